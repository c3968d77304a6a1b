//! File columns end to end: rows in a real database (SQLite, PostgreSQL), files served by a
//! local HTTP server (with a header check), on disk (absolute and folder-relative) and by a
//! local server doing a real NTLM challenge/response (the `sspi` crate's server side), uploaded
//! to the Fliplet emulator.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use common::*;
use fliplet_agent::config::{Job, Operation, PushOperation};
use fliplet_agent::crypto::md5_hex;
use fliplet_agent::sync::files::FileAction;
use fliplet_agent::sync::run::{client_for, preview_job, run_job};
use fliplet_agent::sync::{PushRun, RunError, run_push};
use serde_json::{Value, json};

const HEADER_SECRET: &str = "Bearer s3cret-header-value";

fn op(job: &Job) -> &PushOperation {
    let Operation::Push(p) = &job.operations[0] else {
        panic!("the job is one push")
    };
    p
}

async fn push(job: &Job, dry_run: bool) -> Result<PushRun, RunError> {
    let client = client_for(job).unwrap();
    run_push(
        &client,
        op(job),
        dry_run,
        &job.name,
        &fliplet_agent::sync::control::RunControl::new(),
    )
    .await
}

/// A file server: `GET /files/<name>` answers the bytes registered under `name`, but only with
/// the expected `Authorization` header (401 otherwise); unknown names get 404.
#[derive(Clone, Default)]
struct Files {
    bytes: Arc<Mutex<HashMap<String, Vec<u8>>>>,
    hits: Arc<Mutex<Vec<String>>>,
}

async fn serve_file(State(f): State<Files>, headers: HeaderMap, uri: Uri) -> Response {
    f.hits.lock().unwrap().push(uri.path().to_string());
    if headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        != Some(HEADER_SECRET)
    {
        return (StatusCode::UNAUTHORIZED, "missing or wrong Authorization").into_response();
    }
    let name = uri.path().trim_start_matches("/files/").to_string();
    match f.bytes.lock().unwrap().get(&name) {
        Some(b) => b.clone().into_response(),
        None => (StatusCode::NOT_FOUND, "no such file").into_response(),
    }
}

async fn file_server(files: &Files) -> String {
    let app = axum::Router::new()
        .route("/files/{*name}", axum::routing::get(serve_file))
        .with_state(files.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn uploads(env: &Env) -> usize {
    env.writes()
        .iter()
        .filter(|w| w.starts_with("POST /v1/media/files"))
        .count()
}

fn media_bytes(env: &Env, id: u64) -> Vec<u8> {
    let f = env
        .emu
        .media_files()
        .into_iter()
        .find(|f| f.id == id)
        .unwrap_or_else(|| panic!("no media file {id}"));
    B64.decode(f.content_base64).unwrap()
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

struct Fixture {
    env: Env,
    job: Job,
    files: Files,
    ann_photo: Vec<u8>,
    bob_cv: Vec<u8>,
    badge: Vec<u8>,
}

/// Three rows: 1 has a remote photo, an absolute local CV and a folder-relative badge; 2 has a
/// remote photo that 404s, no CV and a badge missing on disk; 3 has a remote photo with the
/// same bytes as row 1's, under another URL. `concurrency: 1` makes row 1 the one that
/// uploads the shared file (with more, whichever fetch finishes first does).
async fn fixture(extra: &str) -> Fixture {
    let env = Env::new().await;
    let files = Files::default();
    let base = file_server(&files).await;
    let ann_photo = b"\x89PNG fake image bytes of Ann".to_vec();
    let bob_cv = b"%PDF-1.4 Bob's CV".to_vec();
    let badge = b"badge #1".to_vec();
    files
        .bytes
        .lock()
        .unwrap()
        .insert("ann.png".into(), ann_photo.clone());
    files
        .bytes
        .lock()
        .unwrap()
        .insert("copy/ann%20again.png".into(), ann_photo.clone());
    let cv = env.dir.path().join("cv").join("bob.pdf");
    write(&cv, &bob_cv);
    let badges = env.dir.path().join("badges");
    write(&badges.join("b1.txt"), &badge);
    let sql = format!(
        "CREATE TABLE people (id INTEGER, name TEXT, photo TEXT, cv TEXT, badge TEXT);
         INSERT INTO people VALUES (1, 'Ann', '{base}/files/ann.png', '{cv}', 'b1.txt');
         INSERT INTO people VALUES (2, 'Bob', '{base}/files/missing.png', NULL, 'nope.txt');
         INSERT INTO people VALUES (3, 'Cy', '{base}/files/copy/ann%20again.png', '', NULL);",
        cv = cv.display()
    );
    let (db, _) = sqlite(&env, &sql).await;
    let rest = format!(
        "query: SELECT id, name, photo, cv, badge FROM people ORDER BY id
primary_column: id
concurrency: 1
files:
  - column: photo
    type: remote
    headers:
      Authorization: {HEADER_SECRET}
  - column: cv
    type: local
  - column: badge
    type: local
    directory: {}
{extra}",
        badges.display()
    );
    let job = env.job(&db, &rest);
    Fixture {
        env,
        job,
        files,
        ann_photo,
        bob_cv,
        badge,
    }
}

#[tokio::test]
async fn remote_local_and_relative_files_are_uploaded_and_missing_ones_left_out() {
    let fx = fixture("").await;
    let env = &fx.env;
    let run = push(&fx.job, false).await.expect("the run succeeds");
    assert_eq!(run.counts().inserted, 3);

    // The upload folder was created, in the token's organization.
    let folders = env.emu.media_folders();
    assert_eq!(folders.len(), 1);
    assert_eq!(folders[0].name, "Files uploaded from DIS");
    assert_eq!(folders[0].organization_id, env.basic.organization_id);

    // Ann's photo, Bob's... no: Ann's CV and badge; row 3's photo has Ann's photo's bytes and
    // is reused from the upload made earlier in this run.
    let media = env.emu.media_files();
    let mut names: Vec<&str> = media.iter().map(|m| m.name.as_str()).collect();
    names.sort();
    assert_eq!(names, vec!["1-ann.png", "1-b1.txt", "1-bob.pdf"]);
    assert_eq!(uploads(env), 3);
    for m in &media {
        assert_eq!(m.media_folder_id, Some(folders[0].id));
        let bytes = media_bytes(env, m.id);
        assert_eq!(m.client_checksum.as_deref(), Some(md5_hex(&bytes).as_str()));
    }
    let upload = env
        .emu
        .journal()
        .into_iter()
        .find(|j| j.path == "/v1/media/files")
        .unwrap();
    assert!(upload.query.contains("folderId=") && upload.query.contains("organizationId="));
    assert!(
        upload.headers["content-type"].starts_with("multipart/form-data"),
        "{:?}",
        upload.headers
    );

    let data = env.data();
    let by_id = |id: i64| data.iter().find(|d| d["id"] == json!(id)).unwrap();
    let ann = by_id(1);
    let photo_id = ann["photoMediaFileId"].as_u64().expect("photoMediaFileId");
    assert_eq!(media_bytes(env, photo_id), fx.ann_photo);
    assert!(
        ann["photo"]
            .as_str()
            .unwrap()
            .contains(&format!("/v1/media/files/{photo_id}/")),
        "{ann}"
    );
    assert_eq!(
        media_bytes(env, ann["cvMediaFileId"].as_u64().unwrap()),
        fx.bob_cv
    );
    assert_eq!(
        media_bytes(env, ann["badgeMediaFileId"].as_u64().unwrap()),
        fx.badge
    );

    // Row 2: the missing files' columns are left out (never blanked); the null CV stays null.
    let bob = by_id(2);
    assert!(bob.get("photo").is_none(), "{bob}");
    assert!(bob.get("badge").is_none(), "{bob}");
    assert!(bob.get("photoMediaFileId").is_none(), "{bob}");
    assert_eq!(bob["cv"], Value::Null);
    assert_eq!(bob["name"], json!("Bob"));

    // Row 3: same bytes as Ann's photo: same media file; the empty CV is sent as it is.
    let cy = by_id(3);
    assert_eq!(cy["photoMediaFileId"], json!(photo_id));
    assert_eq!(cy["photo"], ann["photo"]);
    assert_eq!(cy["cv"], json!(""));

    // Reports: the failures name the reason, and no report carries the header's secret.
    let failed: Vec<_> = run
        .files
        .iter()
        .filter(|f| f.action == FileAction::Failed)
        .collect();
    assert_eq!(failed.len(), 2);
    assert!(
        failed
            .iter()
            .any(|f| f.column == "photo" && f.reason.as_deref().unwrap().contains("404"))
    );
    assert!(
        failed
            .iter()
            .any(|f| f.column == "badge" && f.reason.as_deref().unwrap().contains("nope.txt"))
    );
    let text = serde_json::to_string(&run.files).unwrap();
    assert!(!text.contains("s3cret"), "{text}");
    assert!(
        fx.files.hits.lock().unwrap().len() >= 3,
        "the file server was asked for each remote file"
    );
}

#[tokio::test]
async fn a_second_run_reuses_every_file_by_checksum_and_uploads_nothing() {
    // replace mode updates every matched row, so the files flow runs again for all of them.
    let fx = fixture("mode: replace").await;
    let env = &fx.env;
    push(&fx.job, false).await.unwrap();
    assert_eq!(uploads(env), 3);
    let first = env.data();

    env.emu.clear_journal();
    let run = push(&fx.job, false).await.unwrap();
    assert_eq!(run.counts().updated, 3);
    assert_eq!(uploads(env), 0, "second run uploaded: {:?}", env.writes());
    assert!(
        !env.writes().iter().any(|w| w.contains("/v1/media/folders")),
        "the folder exists: not created again"
    );
    assert_eq!(env.emu.media_files().len(), 3);
    let reused = run
        .files
        .iter()
        .filter(|f| f.action == FileAction::Reused)
        .count();
    assert_eq!(reused, 4, "{:?}", run.files);
    assert_eq!(
        env.data(),
        first,
        "same URLs and media ids as the first run"
    );
}

#[tokio::test]
async fn files_already_in_the_folder_from_another_tool_are_reused() {
    let fx = fixture("").await;
    let env = &fx.env;
    let folder =
        env.emu
            .add_media_folder(env.basic.organization_id, "Files uploaded from DIS", None);
    let id = env.emu.add_media_file(
        env.basic.organization_id,
        Some(folder),
        "old-name.pdf",
        fx.bob_cv.clone(),
        None,
    );
    push(&fx.job, false).await.unwrap();
    let ann = env
        .data()
        .into_iter()
        .find(|d| d["id"] == json!(1))
        .unwrap();
    assert_eq!(
        ann["cvMediaFileId"],
        json!(id),
        "matched on the server checksum"
    );
    assert_eq!(uploads(env), 2);
    assert_eq!(
        env.emu.media_folders().len(),
        1,
        "the folder is not created twice"
    );
}

#[tokio::test]
async fn a_dry_run_fetches_but_writes_nothing_and_reports_the_files() {
    let fx = fixture("").await;
    let env = &fx.env;
    let preview = preview_job(&fx.job, None).await;
    assert!(preview.succeeded(), "{preview:?}");
    assert!(env.writes().is_empty(), "dry run wrote: {:?}", env.writes());
    assert!(env.emu.media_folders().is_empty());
    let plan = preview.operations[0].plan.as_ref().unwrap();
    let c = plan.file_counts;
    assert_eq!(
        (c.would_upload, c.reused, c.failed, c.uploaded),
        (3, 1, 2, 0),
        "{:?}",
        plan.files
    );
    let json = serde_json::to_value(plan).unwrap();
    let files = json["files"].as_array().unwrap();
    assert!(files.iter().any(|f| f["row"] == json!(1)
        && f["column"] == json!("photo")
        && f["action"] == json!("would_upload")
        && f["name"] == json!("1-ann.png")));
    assert!(files.iter().any(|f| f["row"] == json!(2)
        && f["action"] == json!("failed")
        && f["reason"].is_string()));
    assert!(!json.to_string().contains("s3cret"));

    // The CLI's --test (run_job dry run) writes nothing either.
    let r = run_job(&fx.job, true, None).await;
    assert!(r.succeeded(), "{r:?}");
    assert!(env.writes().is_empty(), "dry run wrote: {:?}", env.writes());
}

#[tokio::test]
async fn without_a_timestamp_column_a_resync_sends_nothing_and_a_failed_file_is_retried() {
    let fx = fixture("").await;
    let env = &fx.env;
    push(&fx.job, false).await.unwrap();
    env.emu.clear_journal();

    // Rows 1 and 3 are in sync (their files were uploaded); row 2's files failed, so it is
    // sent again, its files retried.
    let run = push(&fx.job, false).await.unwrap();
    let c = run.counts();
    assert_eq!(
        (c.inserted, c.updated, c.unchanged),
        (0, 1, 2),
        "{:?}",
        run.plan
    );
    assert_eq!(uploads(env), 0);

    // The missing file appears: the next run uploads it and the row is complete.
    fx.files
        .bytes
        .lock()
        .unwrap()
        .insert("missing.png".into(), b"now here".to_vec());
    let run = push(&fx.job, false).await.unwrap();
    assert_eq!(run.counts().updated, 1);
    assert_eq!(uploads(env), 1);
    let bob = env
        .data()
        .into_iter()
        .find(|d| d["id"] == json!(2))
        .unwrap();
    assert_eq!(
        media_bytes(env, bob["photoMediaFileId"].as_u64().unwrap()),
        b"now here"
    );
    assert!(bob.get("badge").is_none());
}

#[tokio::test]
async fn files_from_postgresql_rows() {
    let env = Env::new().await;
    let pool = pg().await;
    let table = unique("files_pg");
    let dir = env.dir.path().join("docs");
    write(&dir.join("a.txt"), b"alpha");
    write(&dir.join("b.txt"), b"beta");
    pg_exec(
        &pool,
        &format!(
            "CREATE TABLE {table} (id BIGINT PRIMARY KEY, doc TEXT, updated_at TIMESTAMPTZ);
             INSERT INTO {table} VALUES (10, 'a.txt', '2024-03-01T10:00:00Z'), (20, 'b.txt', '2024-03-01T10:00:00Z');"
        ),
    )
    .await;
    let job = env.job(
        &pg_yaml(),
        &format!(
            "query: SELECT id, doc, updated_at FROM {table} ORDER BY id\nprimary_column: id\ntimestamp_column: updated_at\nfiles:\n  - column: doc\n    type: local\n    directory: {}",
            dir.display()
        ),
    );
    let r = run_job(&job, false, None).await;
    assert!(r.succeeded(), "{r:?}");
    let data = env.data();
    // PostgreSQL bigint keys are strings (the original's mapping): the prefix is the value.
    let mut names: Vec<String> = env.emu.media_files().into_iter().map(|m| m.name).collect();
    names.sort();
    assert_eq!(names, vec!["10-a.txt", "20-b.txt"]);
    for d in &data {
        let id = d["docMediaFileId"].as_u64().unwrap();
        let want: &[u8] = if d["id"] == json!("10") {
            b"alpha"
        } else {
            b"beta"
        };
        assert_eq!(media_bytes(&env, id), want);
    }

    // A timestamp bump re-sends the row: its file is reused, not uploaded again.
    pg_exec(
        &pool,
        &format!("UPDATE {table} SET updated_at = '2024-03-02T10:00:00Z' WHERE id = 10"),
    )
    .await;
    env.emu.clear_journal();
    let r = run_job(&job, false, None).await;
    assert_eq!(r.totals().updated, 1, "{r:?}");
    assert_eq!(uploads(&env), 0);
    pg_exec(&pool, &format!("DROP TABLE {table}")).await;
}

// ---------------------------------------------------------------- SharePoint (NTLM)

const SP_USER: &str = "ACME\\sync";
const SP_PASSWORD: &str = "Pa55-w0rd!";

/// NTLM server contexts, one per TCP connection (NTLM authenticates the connection).
#[derive(Clone, Default)]
struct Sharepoint {
    contexts: Arc<Mutex<HashMap<SocketAddr, sspi::Ntlm>>>,
    /// Connections that completed the handshake.
    authenticated: Arc<Mutex<Vec<SocketAddr>>>,
    refused: Arc<Mutex<usize>>,
}

fn ntlm_challenge(token: Option<Vec<u8>>) -> Response {
    let value = match token {
        Some(t) => format!("NTLM {}", B64.encode(t)),
        None => "NTLM".to_string(),
    };
    let mut r = (StatusCode::UNAUTHORIZED, "401 UNAUTHORIZED").into_response();
    r.headers_mut()
        .insert(header::WWW_AUTHENTICATE, value.parse().unwrap());
    r
}

/// The server side of NTLM with `sspi`: NEGOTIATE -> CHALLENGE, then AUTHENTICATE checked
/// against the account's password (`complete_auth_token` verifies the client's proof).
fn ntlm_accept(
    ntlm: &mut sspi::Ntlm,
    input: Vec<u8>,
) -> Result<(sspi::SecurityStatus, Vec<u8>), String> {
    use sspi::{
        AuthIdentity, BufferType, CredentialUse, DataRepresentation, SecurityBuffer,
        SecurityStatus, ServerRequestFlags, Sspi, SspiImpl, Username,
    };
    let identity = AuthIdentity {
        username: Username::parse(SP_USER).unwrap(),
        password: SP_PASSWORD.to_string().into(),
    };
    let mut creds = ntlm
        .acquire_credentials_handle()
        .with_credential_use(CredentialUse::Inbound)
        .with_auth_data(&identity)
        .execute(ntlm)
        .map_err(|e| e.to_string())?
        .credentials_handle;
    let mut input = vec![SecurityBuffer::new(input, BufferType::Token)];
    let mut output = vec![SecurityBuffer::new(Vec::new(), BufferType::Token)];
    let builder = ntlm
        .accept_security_context()
        .with_credentials_handle(&mut creds)
        .with_context_requirements(ServerRequestFlags::ALLOCATE_MEMORY)
        .with_target_data_representation(DataRepresentation::Native)
        .with_input(&mut input)
        .with_output(&mut output);
    let result = ntlm
        .accept_security_context_impl(builder)
        .and_then(|mut g| g.resolve_to_result())
        .map_err(|e| e.to_string())?;
    let mut status = result.status;
    if [
        SecurityStatus::CompleteAndContinue,
        SecurityStatus::CompleteNeeded,
    ]
    .contains(&status)
    {
        status = ntlm
            .complete_auth_token(&mut output)
            .map_err(|e| e.to_string())?;
    }
    Ok((status, std::mem::take(&mut output[0].buffer)))
}

async fn sharepoint_file(
    State(sp): State<Sharepoint>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("NTLM "))
        .and_then(|t| B64.decode(t.trim()).ok());
    let Some(token) = token else {
        return ntlm_challenge(None);
    };
    // Message type: bytes 8..12 of the NTLMSSP message (1 negotiate, 3 authenticate).
    let kind = token.get(8).copied().unwrap_or(0);
    let mut contexts = sp.contexts.lock().unwrap();
    if kind == 1 {
        let mut ntlm = sspi::Ntlm::new();
        return match ntlm_accept(&mut ntlm, token) {
            Ok((_, challenge)) => {
                contexts.insert(peer, ntlm);
                ntlm_challenge(Some(challenge))
            }
            Err(e) => (StatusCode::BAD_REQUEST, e).into_response(),
        };
    }
    let Some(mut ntlm) = contexts.remove(&peer) else {
        // AUTHENTICATE on a connection that did not negotiate: refused.
        *sp.refused.lock().unwrap() += 1;
        return ntlm_challenge(None);
    };
    match ntlm_accept(&mut ntlm, token) {
        Ok((sspi::SecurityStatus::Ok, _)) => {
            sp.authenticated.lock().unwrap().push(peer);
            let (ct, body): (&str, &[u8]) = match uri.path() {
                "/sites/hr/Shared%20Documents/portrait" => ("image/png", b"\x89PNG portrait"),
                "/sites/hr/Shared%20Documents/contract.docx" => (
                    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                    b"PK docx bytes",
                ),
                _ => return (StatusCode::NOT_FOUND, "not found").into_response(),
            };
            ([(header::CONTENT_TYPE, ct)], body.to_vec()).into_response()
        }
        _ => {
            *sp.refused.lock().unwrap() += 1;
            ntlm_challenge(None)
        }
    }
}

async fn sharepoint_server(sp: &Sharepoint) -> String {
    let app = axum::Router::new()
        .route("/sites/{*path}", axum::routing::get(sharepoint_file))
        .with_state(sp.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap()
    });
    format!("http://{addr}")
}

async fn sharepoint_job(env: &Env, base: &str, password: &str) -> Job {
    let sql = format!(
        "CREATE TABLE staff (id INTEGER, portrait TEXT, contract TEXT);
         INSERT INTO staff VALUES (7, '{base}/sites/hr/Shared%20Documents/portrait', '{base}/sites/hr/Shared%20Documents/contract.docx');"
    );
    let (db, _) = sqlite(env, &sql).await;
    env.job(
        &db,
        &format!(
            "query: SELECT id, portrait, contract FROM staff
primary_column: id
files:
  - column: portrait
    type: sharepoint
    username: ACME\\sync
    password: \"{password}\"
  - column: contract
    type: sharepoint
    fileType: inherit
    username: ACME\\sync
    password: \"{password}\""
        ),
    )
}

#[tokio::test]
async fn sharepoint_files_are_fetched_with_a_real_ntlm_handshake() {
    let env = Env::new().await;
    let sp = Sharepoint::default();
    let base = sharepoint_server(&sp).await;
    let job = sharepoint_job(&env, &base, SP_PASSWORD).await;
    let run = push(&job, false).await.unwrap();
    assert!(
        run.files.iter().all(|f| f.action == FileAction::Uploaded),
        "{:?}",
        run.files
    );
    assert_eq!(
        sp.authenticated.lock().unwrap().len(),
        2,
        "one handshake per file"
    );
    assert_eq!(*sp.refused.lock().unwrap(), 0);
    let mut names: Vec<String> = env.emu.media_files().into_iter().map(|m| m.name).collect();
    names.sort();
    // Without `fileType: inherit` the name takes the served type's extension; with it, the
    // SharePoint file name is kept as it is.
    assert_eq!(names, vec!["7-contract.docx", "7-portrait.png"]);
    let row = &env.data()[0];
    assert_eq!(
        media_bytes(&env, row["portraitMediaFileId"].as_u64().unwrap()),
        b"\x89PNG portrait"
    );
}

#[tokio::test]
async fn a_wrong_sharepoint_password_is_refused_by_the_server_and_never_shown() {
    let env = Env::new().await;
    let sp = Sharepoint::default();
    let base = sharepoint_server(&sp).await;
    let wrong = "not-the-Pa55";
    let job = sharepoint_job(&env, &base, wrong).await;
    let run = push(&job, false).await.unwrap();
    assert_eq!(run.files.len(), 2);
    for f in &run.files {
        assert_eq!(f.action, FileAction::Failed);
        let reason = f.reason.as_deref().unwrap();
        assert!(reason.contains("refused the NTLM login"), "{reason}");
        assert!(!reason.contains(wrong));
    }
    assert_eq!(
        *sp.refused.lock().unwrap(),
        2,
        "the server checked the proof"
    );
    assert!(sp.authenticated.lock().unwrap().is_empty());
    assert!(env.emu.media_files().is_empty());
    // The row is committed without its file columns.
    let row = &env.data()[0];
    assert!(
        row.get("portrait").is_none() && row.get("contract").is_none(),
        "{row}"
    );
    assert!(
        !format!("{job:?}").contains(wrong),
        "Debug of the job shows the password"
    );
}

// ---------------------------------------------------------------- concurrency

#[derive(Clone, Default)]
struct Slow {
    in_flight: Arc<Mutex<(usize, usize)>>,
}

async fn slow_file(State(s): State<Slow>, uri: Uri) -> Response {
    {
        let mut g = s.in_flight.lock().unwrap();
        g.0 += 1;
        g.1 = g.1.max(g.0);
    }
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    s.in_flight.lock().unwrap().0 -= 1;
    uri.path().as_bytes().to_vec().into_response()
}

#[tokio::test]
async fn concurrency_bounds_parallel_fetches() {
    let env = Env::new().await;
    let slow = Slow::default();
    let app = axum::Router::new()
        .route("/slow/{name}", axum::routing::get(slow_file))
        .with_state(slow.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let mut sql = String::from("CREATE TABLE t (id INTEGER, f TEXT);");
    for i in 1..=6 {
        sql.push_str(&format!(
            "INSERT INTO t VALUES ({i}, '{base}/slow/{i}.txt');"
        ));
    }
    // Two rows, two URLs, one content (the server answers the path): fetched in parallel,
    // uploaded once.
    sql.push_str(&format!(
        "INSERT INTO t VALUES (7, '{base}/slow/same.txt?v=7'); INSERT INTO t VALUES (8, '{base}/slow/same.txt?v=8');"
    ));
    let (db, _) = sqlite(&env, &sql).await;
    for (concurrency, expected) in [(2, 2), (1, 1)] {
        *slow.in_flight.lock().unwrap() = (0, 0);
        let job = env.job(
            &db,
            &format!("query: SELECT id, f FROM t\nprimary_column: id\nmode: replace\nconcurrency: {concurrency}\nfiles:\n  - column: f\n    type: remote"),
        );
        push(&job, false).await.unwrap();
        let max = slow.in_flight.lock().unwrap().1;
        assert_eq!(max, expected, "concurrency {concurrency}");
    }
    assert_eq!(env.emu.media_files().len(), 7);
    let data = env.data();
    let id = |k: i64| data.iter().find(|d| d["id"] == json!(k)).unwrap()["fMediaFileId"].clone();
    assert_eq!(id(7), id(8));
    assert!(id(7).is_u64());
}

// ---------------------------------------------------------------- the CLI

fn agent(args: &[&std::ffi::OsStr]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_fliplet-agent"))
        .args(args)
        .env_remove("FLIPLET_API_URL")
        .env_remove("FLIPLET_LOG")
        .env("FLIPLET_AGENT_LOG", "off")
        .env("FLIPLET_RETRY_BASE_MS", "10")
        .env("XDG_DATA_HOME", common::data_home())
        .output()
        .expect("the binary runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_logs_each_unfetchable_file_with_its_row_and_never_a_secret() {
    let fx = fixture("sync_on_init: true").await;
    let path = fx.job.path.clone().unwrap();

    let p = path.clone();
    let out = tokio::task::spawn_blocking(move || agent(&["preview".as_ref(), p.as_os_str()]))
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("Files: 3 to upload, 1 already on Fliplet"),
        "{stdout}"
    );
    assert!(
        stdout.contains("row 1 photo: would upload 1-ann.png"),
        "{stdout}"
    );
    assert!(stdout.contains("CANNOT FETCH"), "{stdout}");
    assert!(fx.env.writes().is_empty(), "{:?}", fx.env.writes());

    let out = tokio::task::spawn_blocking(move || agent(&["start".as_ref(), path.as_os_str()]))
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Cannot fetch the file of row #2 column \"photo\"")
            && stderr.contains("404"),
        "{stderr}"
    );
    assert!(
        stderr.contains("Cannot fetch the file of row #2 column \"badge\"")
            && stderr.contains("nope.txt"),
        "{stderr}"
    );
    assert!(stderr.contains("Files: 3 uploaded"), "{stderr}");
    for text in [&stdout, &stderr] {
        assert!(
            !text.contains("s3cret"),
            "a header secret was printed: {text}"
        );
    }
    assert_eq!(uploads(&fx.env), 3);
}

//! The `v1/*` Fliplet routes.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Extension, Multipart, Path, Query, State as AxState};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::value::RawValue;
use serde_json::{Value, json};

use crate::model::*;
use crate::query;
use crate::server::{ApiError, Auth, Shared, json_response, json_value};
use crate::store::{
    ColumnTracker, DataMap, Db, StoredFile, data_text, md5_hex, write_entries, write_entry,
};

type Sh = AxState<Arc<Shared>>;
type Q = Query<HashMap<String, String>>;
type ApiResult = Result<Response, ApiError>;

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/v1/user", get(get_user))
        .route("/v1/organizations", get(get_organizations))
        .route(
            "/v1/data-sources",
            get(list_data_sources).post(create_data_source),
        )
        .route(
            "/v1/data-sources/{ds}",
            get(get_data_source)
                .put(update_data_source)
                .delete(delete_data_source),
        )
        .route(
            "/v1/data-sources/{ds}/data",
            get(list_entries).post(import_entries).put(insert_entry),
        )
        .route("/v1/data-sources/{ds}/data/query", post(query_entries))
        .route(
            "/v1/data-sources/{ds}/data/{entry}",
            get(get_entry).put(update_entry).delete(delete_entry),
        )
        .route("/v1/data-sources/{ds}/commit", post(commit))
        .route("/v1/data-sources/{ds}/indexes/{cols}", get(indexes))
        .route("/v1/media", get(list_media))
        .route("/v1/media/folders", post(create_folder))
        .route(
            "/v1/media/folders/{id}",
            axum::routing::delete(delete_folder),
        )
        .route("/v1/media/files", post(upload_files))
        .route("/v1/media/files/{id}", get(get_file).delete(delete_file))
        .route("/v1/media/files/{id}/contents", get(file_contents))
        .route(
            "/v1/media/files/{id}/contents/{name}",
            get(file_contents_named),
        )
}

// ---------------------------------------------------------------- helpers

fn ok_json(v: &Value) -> ApiResult {
    Ok(json_value(StatusCode::OK, v))
}

fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(body).map_err(|e| ApiError::bad(format!("Invalid JSON body: {e}")))
}

fn parse_data_map(raw: &str) -> Result<DataMap, ApiError> {
    serde_json::from_str::<DataMap>(raw)
        .map_err(|_| ApiError::bad("Entry data must be a JSON object"))
}

/// Store raw object text as is when it is already compact, else re-serialise it compactly
/// (top level only; keeps key order and every value's text).
fn compact(raw: &str) -> Box<str> {
    let needs = raw.bytes().any(|b| b == b'\n' || b == b'\r' || b == b'\t')
        || raw.starts_with("{ ")
        || raw.contains("\": ")
        || raw.contains(", \"");
    if needs && let Ok(m) = serde_json::from_str::<DataMap>(raw) {
        return data_text(&m);
    }
    raw.into()
}

fn parse_object_body(body: &[u8]) -> Result<DataMap, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(DataMap::new());
    }
    serde_json::from_slice::<DataMap>(body)
        .map_err(|_| ApiError::bad("The request body must be a JSON object"))
}

/// A boolean option from the body or the query string.
fn flag(
    body: Option<&Value>,
    q: &HashMap<String, String>,
    name: &str,
) -> Result<Option<bool>, ApiError> {
    let from = |v: &Value| -> Result<Option<bool>, ApiError> {
        match v {
            Value::Null => Ok(None),
            Value::Bool(b) => Ok(Some(*b)),
            Value::String(s) if s == "true" || s == "1" => Ok(Some(true)),
            Value::String(s) if s == "false" || s == "0" || s.is_empty() => Ok(Some(false)),
            Value::Number(n) => Ok(Some(n.as_f64() != Some(0.0))),
            _ => Err(ApiError::bad(format!("{name} must be a boolean"))),
        }
    };
    if let Some(v) = body
        && let Some(b) = from(v)?
    {
        return Ok(Some(b));
    }
    match q.get(name) {
        Some(s) => from(&Value::String(s.clone())),
        None => Ok(None),
    }
}

fn as_id(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn num_param(q: &HashMap<String, String>, body: Option<&Value>, name: &str) -> Option<u64> {
    body.and_then(|b| b.get(name))
        .and_then(as_id)
        .or_else(|| q.get(name).and_then(|s| s.parse().ok()))
}

pub fn ds_json(d: &DataSource) -> Value {
    json!({
        "id": d.id,
        "name": d.name,
        "organizationId": d.organization_id,
        "appId": d.app_id,
        "type": d.r#type,
        "columns": d.columns,
        "hooks": d.hooks,
        "encrypted": false,
        "public": false,
        "appCapabilities": null,
        "createdAt": d.created_at,
        "updatedAt": d.updated_at,
    })
}

/// Resolve `:ds` (an id, or a name) to an existing data source id.
fn resolve_ds(
    db: &Db,
    auth: &Auth,
    key: &str,
    q: &HashMap<String, String>,
) -> Result<u64, ApiError> {
    let by_name = q.contains_key("dsn") || key.parse::<u64>().is_err();
    let found = if by_name {
        db.ds
            .values()
            .find(|d| d.meta.name == key && db.user_in_org(auth.user_id, d.meta.organization_id))
            .map(|d| d.meta.id)
    } else {
        key.parse().ok().filter(|id| db.ds.contains_key(id))
    };
    found.ok_or_else(|| ApiError::not_found(format!("Data source \"{key}\" not found")))
}

fn denial(db: &Db, ds: u64, perm: Perm) -> ApiError {
    let name = db
        .ds
        .get(&ds)
        .map(|d| d.meta.name.clone())
        .unwrap_or_default();
    ApiError {
        status: StatusCode::from_u16(db.settings.denial_status).unwrap_or(StatusCode::BAD_REQUEST),
        body: json!({
            "message": format!(
                "The security rules for the Data Source \"{name}\" do not allow this app to {} data.",
                perm.verb()
            ),
            "type": "datasource.access",
            "payload": { "dataSourceId": ds },
        }),
    }
}

fn check(db: &Db, auth: &Auth, ds: u64, perm: Perm) -> Result<(), ApiError> {
    let org = db.ds[&ds].meta.organization_id;
    if db.user_in_org(auth.user_id, org) && db.has_perm(&auth.token, ds, perm) {
        Ok(())
    } else {
        Err(denial(db, ds, perm))
    }
}

fn access(
    db: &Db,
    auth: &Auth,
    key: &str,
    q: &HashMap<String, String>,
    perm: Perm,
) -> Result<u64, ApiError> {
    let id = resolve_ds(db, auth, key, q)?;
    check(db, auth, id, perm)?;
    Ok(id)
}

fn entry_response(db: &Db, ds: u64, id: u64) -> Response {
    let mut out = Vec::new();
    write_entry(&mut out, ds, id, &db.ds[&ds].entries[&id]);
    json_response(StatusCode::OK, out)
}

fn parse_entry_id(s: &str) -> Result<u64, ApiError> {
    s.parse()
        .map_err(|_| ApiError::not_found(format!("Entry {s} not found")))
}

// ---------------------------------------------------------------- user, organizations

async fn get_user(AxState(sh): Sh, Extension(auth): Extension<Auth>) -> ApiResult {
    let db = sh.db();
    let u = db
        .users
        .get(&auth.user_id)
        .ok_or_else(ApiError::unauthorised)?;
    ok_json(&json!({ "user": {
        "id": u.id,
        "email": u.email,
        "fullName": u.full_name,
        "firstName": u.first_name.clone().unwrap_or_else(|| u.full_name.clone()),
        "lastName": u.last_name,
        "auth_token": auth.token,
        "isAdmin": u.is_admin,
    }}))
}

async fn get_organizations(AxState(sh): Sh, Extension(auth): Extension<Auth>) -> ApiResult {
    let db = sh.db();
    let orgs: Vec<Value> = db
        .user_orgs(auth.user_id)
        .into_iter()
        .filter_map(|id| db.orgs.get(&id))
        .map(|o| json!({ "id": o.id, "name": o.name }))
        .collect();
    ok_json(&json!({ "organizations": orgs }))
}

// ---------------------------------------------------------------- data sources

async fn list_data_sources(
    AxState(sh): Sh,
    Extension(auth): Extension<Auth>,
    Query(q): Q,
) -> ApiResult {
    let db = sh.db();
    let orgs = db.user_orgs(auth.user_id);
    let org_filter: Option<u64> = q.get("organizationId").and_then(|s| s.parse().ok());
    let app_filter: Option<u64> = q.get("appId").and_then(|s| s.parse().ok());
    let type_filter = q.get("type");
    let list: Vec<Value> = db
        .ds
        .values()
        .map(|d| &d.meta)
        .filter(|m| orgs.contains(&m.organization_id))
        .filter(|m| org_filter.is_none_or(|o| m.organization_id == o))
        .filter(|m| app_filter.is_none_or(|a| m.app_id == Some(a)))
        .filter(|m| type_filter.is_none_or(|t| m.r#type.as_deref() == Some(t.as_str())))
        .map(ds_json)
        .collect();
    ok_json(&json!({ "dataSources": list }))
}

async fn create_data_source(
    AxState(sh): Sh,
    Extension(auth): Extension<Auth>,
    Query(q): Q,
    body: Bytes,
) -> ApiResult {
    let b = parse_json(&body)?;
    let name = b
        .get("name")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::bad("A name is required"))?
        .to_string();
    let r#type = match b.get("type") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(ApiError::bad("type must be a string or null")),
    };
    let columns = match b.get("columns") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            serde_json::from_value::<Vec<String>>(v.clone())
                .map_err(|_| ApiError::bad("columns must be an array of strings"))?,
        ),
    };
    let mut db = sh.db();
    let app_id = num_param(&q, Some(&b), "appId");
    let org = match num_param(&q, Some(&b), "organizationId") {
        Some(o) => o,
        None if app_id.is_some() => *db
            .user_orgs(auth.user_id)
            .first()
            .ok_or_else(|| ApiError::bad("The token's user has no organization"))?,
        None => {
            return Err(ApiError::bad(
                "An organizationId or appId is required to create a data source",
            ));
        }
    };
    if !db.user_in_org(auth.user_id, org) {
        return Err(ApiError::bad(format!(
            "You are not allowed to create data sources in organization {org}"
        )));
    }
    let id = db.next_ds();
    let ts = db.now().to_string();
    let meta = DataSource {
        id,
        name,
        organization_id: org,
        app_id,
        r#type,
        columns,
        hooks: vec![],
        created_at: ts.clone(),
        updated_at: ts,
    };
    let out = ds_json(&meta);
    db.ds.insert(
        id,
        crate::store::Ds {
            meta,
            entries: Default::default(),
        },
    );
    let token = auth.token.clone();
    db.grant(&token, id, Perm::ALL);
    Ok(json_value(
        StatusCode::CREATED,
        &json!({ "dataSource": out }),
    ))
}

async fn get_data_source(
    AxState(sh): Sh,
    Extension(auth): Extension<Auth>,
    Path(key): Path<String>,
    Query(q): Q,
) -> ApiResult {
    let db = sh.db();
    let id = access(&db, &auth, &key, &q, Perm::Select)?;
    ok_json(&json!({ "dataSource": ds_json(&db.ds[&id].meta) }))
}

async fn update_data_source(
    AxState(sh): Sh,
    Extension(auth): Extension<Auth>,
    Path(key): Path<String>,
    Query(q): Q,
    body: Bytes,
) -> ApiResult {
    let b = parse_json(&body)?;
    let mut db = sh.db();
    let id = access(&db, &auth, &key, &q, Perm::Update)?;
    let ts = db.now().to_string();
    let meta = &mut db.ds.get_mut(&id).expect("exists").meta;
    if let Some(n) = b.get("name") {
        meta.name = n
            .as_str()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| ApiError::bad("name must be a non-empty string"))?
            .to_string();
    }
    if let Some(t) = b.get("type") {
        meta.r#type = t.as_str().map(str::to_string);
    }
    if let Some(c) = b.get("columns") {
        meta.columns = if c.is_null() {
            None
        } else {
            Some(
                serde_json::from_value(c.clone())
                    .map_err(|_| ApiError::bad("columns must be an array of strings"))?,
            )
        };
    }
    if let Some(a) = b.get("appId") {
        meta.app_id = as_id(a);
    }
    if let Some(h) = b.get("hooks").and_then(Value::as_array) {
        meta.hooks = h.clone();
    }
    meta.updated_at = ts;
    let mut out = ds_json(meta);
    out["definition"] = json!({});
    ok_json(&json!({ "dataSource": out }))
}

async fn delete_data_source(
    AxState(sh): Sh,
    Extension(auth): Extension<Auth>,
    Path(key): Path<String>,
    Query(q): Q,
) -> ApiResult {
    let mut db = sh.db();
    let id = access(&db, &auth, &key, &q, Perm::Delete)?;
    db.ds.remove(&id);
    for t in db.tokens.values_mut() {
        t.grants.remove(&id);
    }
    Ok(StatusCode::OK.into_response())
}

// ---------------------------------------------------------------- entries

async fn list_entries(
    AxState(sh): Sh,
    Extension(auth): Extension<Auth>,
    Path(key): Path<String>,
    Query(q): Q,
) -> ApiResult {
    let db = sh.db();
    let id = access(&db, &auth, &key, &q, Perm::Select)?;
    let d = &db.ds[&id];
    let out = write_entries(id, d.entries.iter());
    Ok(json_response(StatusCode::OK, out))
}

/// `POST …/data`: bulk import (replace, or append with `append:true`).
async fn import_entries(
    AxState(sh): Sh,
    Extension(auth): Extension<Auth>,
    Path(key): Path<String>,
    Query(q): Q,
    body: Bytes,
) -> ApiResult {
    #[derive(serde::Deserialize)]
    struct Import {
        entries: Option<Vec<Box<RawValue>>>,
        append: Option<Value>,
    }
    let b: Import = serde_json::from_slice(&body)
        .map_err(|_| ApiError::bad("The body must be {\"entries\": [ {...}, ... ]}"))?;
    let raw = b
        .entries
        .ok_or_else(|| ApiError::bad("entries must be an array"))?;
    let append = flag(b.append.as_ref(), &q, "append")?.unwrap_or(false);
    let maps = raw
        .iter()
        .map(|r| parse_data_map(r.get()))
        .collect::<Result<Vec<_>, _>>()?;
    let mut db = sh.db();
    let id = resolve_ds(&db, &auth, &key, &q)?;
    if !maps.is_empty() {
        check(&db, &auth, id, Perm::Insert)?;
    }
    if !append && !db.ds[&id].entries.is_empty() {
        check(&db, &auth, id, Perm::Delete)?;
    }
    let ts = db.now();
    let mut cols = ColumnTracker::new(&db.ds[&id].meta);
    if !append {
        db.ds.get_mut(&id).expect("exists").entries.clear();
    }
    for m in &maps {
        cols.see(m.keys());
        db.insert_entry(id, data_text(m), &ts);
    }
    cols.apply(&mut db.ds.get_mut(&id).expect("exists").meta);
    Ok(StatusCode::OK.into_response())
}

/// `PUT …/data`: insert one entry (JSON, or multipart whose text fields become columns).
async fn insert_entry(
    AxState(sh): Sh,
    Extension(auth): Extension<Auth>,
    Path(key): Path<String>,
    Query(q): Q,
    headers: HeaderMap,
    req: axum::extract::Request,
) -> ApiResult {
    use axum::extract::FromRequest;
    let is_multipart = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("multipart/form-data"));
    let (map, files) = if is_multipart {
        let mp = Multipart::from_request(req, &())
            .await
            .map_err(|e| ApiError::bad(format!("Invalid multipart body: {e}")))?;
        read_multipart_entry(mp).await?
    } else {
        let body = Bytes::from_request(req, &())
            .await
            .map_err(|e| ApiError::bad(e.to_string()))?;
        (parse_object_body(&body)?, vec![])
    };
    let mut db = sh.db();
    let id = access(&db, &auth, &key, &q, Perm::Insert)?;
    let mut map = map;
    let org = db.ds[&id].meta.organization_id;
    let host = host_of(&headers, &sh.base_url);
    for (field, name, content_type, bytes) in files {
        let fid = db.next_file();
        let ts = db.now().to_string();
        let meta = MediaFileState {
            id: fid,
            name: name.clone(),
            content_type,
            media_folder_id: None,
            organization_id: org,
            app_id: None,
            user_id: Some(auth.user_id),
            client_checksum: None,
            content_base64: String::new(),
            created_at: ts.clone(),
            updated_at: ts,
        };
        let url = file_url(&host, fid, &name);
        db.files.insert(fid, StoredFile { meta, bytes });
        map.insert(
            field.clone(),
            RawValue::from_string(Value::String(url).to_string()).expect("json"),
        );
        map.insert(
            format!("{field}MediaFileId"),
            RawValue::from_string(fid.to_string()).expect("json"),
        );
    }
    let ts = db.now();
    let mut cols = ColumnTracker::new(&db.ds[&id].meta);
    cols.see(map.keys());
    let eid = db.insert_entry(id, data_text(&map), &ts);
    cols.apply(&mut db.ds.get_mut(&id).expect("exists").meta);
    Ok(entry_response(&db, id, eid))
}

type UploadedPart = (String, String, String, Bytes);

async fn read_multipart_entry(mut mp: Multipart) -> Result<(DataMap, Vec<UploadedPart>), ApiError> {
    let mut map = DataMap::new();
    let mut files = vec![];
    while let Some(field) = mp
        .next_field()
        .await
        .map_err(|e| ApiError::bad(format!("Invalid multipart body: {e}")))?
    {
        let name = field.name().unwrap_or("").to_string();
        if let Some(file_name) = field.file_name().map(str::to_string) {
            let ct = field
                .content_type()
                .unwrap_or("application/octet-stream")
                .to_string();
            let bytes = field
                .bytes()
                .await
                .map_err(|e| ApiError::bad(e.to_string()))?;
            files.push((name, file_name, ct, bytes));
        } else {
            let text = field
                .text()
                .await
                .map_err(|e| ApiError::bad(e.to_string()))?;
            map.insert(
                name,
                RawValue::from_string(Value::String(text).to_string()).expect("json"),
            );
        }
    }
    Ok((map, files))
}

async fn get_entry(
    AxState(sh): Sh,
    Extension(auth): Extension<Auth>,
    Path((key, entry)): Path<(String, String)>,
    Query(q): Q,
) -> ApiResult {
    let db = sh.db();
    let id = access(&db, &auth, &key, &q, Perm::Select)?;
    let eid = parse_entry_id(&entry)?;
    if !db.ds[&id].entries.contains_key(&eid) {
        return Err(ApiError::not_found(format!("Entry {eid} not found")));
    }
    Ok(entry_response(&db, id, eid))
}

async fn update_entry(
    AxState(sh): Sh,
    Extension(auth): Extension<Auth>,
    Path((key, entry)): Path<(String, String)>,
    Query(q): Q,
    body: Bytes,
) -> ApiResult {
    let new = parse_object_body(&body)?;
    let mut db = sh.db();
    let id = access(&db, &auth, &key, &q, Perm::Update)?;
    let eid = parse_entry_id(&entry)?;
    if !db.ds[&id].entries.contains_key(&eid) {
        return Err(ApiError::not_found(format!("Entry {eid} not found")));
    }
    let ts = db.now();
    let d = db.ds.get_mut(&id).expect("exists");
    let mut cols = ColumnTracker::new(&d.meta);
    cols.see(new.keys());
    let e = d.entries.get_mut(&eid).expect("exists");
    let mut merged = parse_data_map(&e.data)?;
    for (k, v) in new {
        merged.insert(k, v);
    }
    e.data = data_text(&merged);
    e.updated_at = ts;
    cols.apply(&mut d.meta);
    Ok(entry_response(&db, id, eid))
}

async fn delete_entry(
    AxState(sh): Sh,
    Extension(auth): Extension<Auth>,
    Path((key, entry)): Path<(String, String)>,
    Query(q): Q,
) -> ApiResult {
    let mut db = sh.db();
    let id = access(&db, &auth, &key, &q, Perm::Delete)?;
    let eid = parse_entry_id(&entry)?;
    if db
        .ds
        .get_mut(&id)
        .expect("exists")
        .entries
        .remove(&eid)
        .is_none()
    {
        return Err(ApiError::not_found(format!("Entry {eid} not found")));
    }
    ok_json(&json!({}))
}

// ---------------------------------------------------------------- commit

struct CommitItem<'a> {
    id: Option<u64>,
    /// The raw JSON text of `data`, as sent.
    raw: &'a str,
    /// Its top-level keys, in order.
    keys: Vec<String>,
}

/// The top-level keys of a JSON object, in order (values are skipped, not built).
struct Keys(Vec<String>);

impl<'de> serde::Deserialize<'de> for Keys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Keys;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<Keys, A::Error> {
                let mut keys = Vec::new();
                while let Some(k) = m.next_key::<String>()? {
                    m.next_value::<serde::de::IgnoredAny>()?;
                    keys.push(k);
                }
                Ok(Keys(keys))
            }
        }
        d.deserialize_map(V)
    }
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct CommitBody<'a> {
    #[serde(borrow, default)]
    entries: Option<&'a RawValue>,
    #[serde(default)]
    append: Option<Value>,
    #[serde(default)]
    extend: Option<Value>,
    #[serde(default)]
    delete: Option<Value>,
    #[serde(default)]
    run_hooks: Option<Value>,
    #[serde(default)]
    return_entries: Option<Value>,
}

async fn commit(
    AxState(sh): Sh,
    Extension(auth): Extension<Auth>,
    Path(key): Path<String>,
    Query(q): Q,
    body: Bytes,
) -> ApiResult {
    // ---- validation (nothing changes when this fails)
    let text =
        std::str::from_utf8(&body).map_err(|_| ApiError::bad("The body must be UTF-8 JSON"))?;
    let top: CommitBody = serde_json::from_str(text)
        .map_err(|e| ApiError::bad(format!("The commit body must be a JSON object: {e}")))?;
    let raw_entries: Vec<&RawValue> = match top.entries {
        Some(r) => {
            serde_json::from_str(r.get()).map_err(|_| ApiError::bad("entries must be an array"))?
        }
        None => return Err(ApiError::bad("entries is required and must be an array")),
    };
    let append = flag(top.append.as_ref(), &q, "append")?.unwrap_or(false);
    let extend = flag(top.extend.as_ref(), &q, "extend")?.unwrap_or(false);
    let return_entries = flag(top.return_entries.as_ref(), &q, "returnEntries")?.unwrap_or(true);
    let delete: Vec<u64> = match &top.delete {
        None | Some(Value::Null) => vec![],
        Some(Value::Array(ids)) => ids
            .iter()
            .map(|v| as_id(v).ok_or_else(|| ApiError::bad("delete must be an array of entry ids")))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(ApiError::bad("delete must be an array of entry ids")),
    };
    match &top.run_hooks {
        None | Some(Value::Null) => {}
        Some(Value::Array(h)) => {
            for v in h {
                if !matches!(v.as_str(), Some("insert" | "update")) {
                    return Err(ApiError::bad(
                        "runHooks must be an array of \"insert\" and/or \"update\"",
                    ));
                }
            }
        }
        Some(_) => {
            return Err(ApiError::bad(
                "runHooks must be an array of \"insert\" and/or \"update\"",
            ));
        }
    }
    let mut items = Vec::with_capacity(raw_entries.len());
    for (i, raw) in raw_entries.iter().enumerate() {
        #[derive(serde::Deserialize)]
        struct Item<'a> {
            #[serde(default)]
            id: Option<Value>,
            #[serde(borrow)]
            data: Option<&'a RawValue>,
        }
        let it: Item = serde_json::from_str(raw.get())
            .map_err(|_| ApiError::bad(format!("entries[{i}] must be an object")))?;
        let id = match &it.id {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                as_id(v)
                    .ok_or_else(|| ApiError::bad(format!("entries[{i}].id must be an entry id")))?,
            ),
        };
        let (raw, keys) = match it.data {
            Some(d) => {
                let keys = serde_json::from_str::<Keys>(d.get())
                    .map_err(|_| ApiError::bad(format!("entries[{i}].data must be an object")))?;
                (d.get(), keys.0)
            }
            None => return Err(ApiError::bad(format!("entries[{i}].data is required"))),
        };
        items.push(CommitItem { id, raw, keys });
    }

    // ---- permissions and semantic checks
    let mut db = sh.db();
    let ds = resolve_ds(&db, &auth, &key, &q)?;
    let mode = db.settings.update_unknown;
    {
        let entries = &db.ds[&ds].entries;
        let unknown = items
            .iter()
            .filter_map(|i| i.id)
            .find(|id| !entries.contains_key(id));
        if let (Some(id), UpdateUnknown::Error) = (unknown, mode) {
            return Err(ApiError::bad(format!(
                "Entry {id} does not exist in data source {ds}"
            )));
        }
        let has_insert = items.iter().any(|i| i.id.is_none())
            || (mode == UpdateUnknown::Insert && unknown.is_some());
        let has_update = items.iter().any(|i| i.id.is_some());
        let removes = !delete.is_empty() || {
            if append {
                false
            } else {
                let named: HashSet<u64> = items.iter().filter_map(|i| i.id).collect();
                entries.keys().any(|id| !named.contains(id))
            }
        };
        if has_insert {
            check(&db, &auth, ds, Perm::Insert)?;
        }
        if has_update {
            check(&db, &auth, ds, Perm::Update)?;
        }
        if removes {
            check(&db, &auth, ds, Perm::Delete)?;
        }
    }

    // ---- apply: updates and inserts in order, then `delete`, then the append:false sweep
    let ts = db.now();
    let mut new_ids = Vec::new();
    let mut touched: HashSet<u64> = HashSet::new();
    let mut cols = ColumnTracker::new(&db.ds[&ds].meta);
    for item in items {
        cols.see(item.keys.iter());
        match item.id {
            Some(id) if db.ds[&ds].entries.contains_key(&id) => {
                let e = db
                    .ds
                    .get_mut(&ds)
                    .expect("exists")
                    .entries
                    .get_mut(&id)
                    .expect("exists");
                if extend {
                    let mut merged = parse_data_map(&e.data)?;
                    for (k, v) in parse_data_map(item.raw)? {
                        merged.insert(k, v);
                    }
                    e.data = data_text(&merged);
                } else {
                    e.data = compact(item.raw);
                }
                e.updated_at = ts.clone();
                touched.insert(id);
            }
            Some(_) if mode != UpdateUnknown::Insert => {}
            _ => {
                let id = db.next_entry();
                new_ids.push((id, compact(item.raw)));
                touched.insert(id);
            }
        }
    }
    let d = db.ds.get_mut(&ds).expect("exists");
    for (id, data) in new_ids {
        d.entries.insert(
            id,
            crate::store::StoredEntry {
                data,
                created_at: ts.clone(),
                updated_at: ts.clone(),
            },
        );
    }
    for id in &delete {
        d.entries.remove(id);
    }
    if !append {
        d.entries.retain(|id, _| touched.contains(id));
    }
    cols.apply(&mut d.meta);
    let out = if return_entries {
        write_entries(ds, d.entries.iter())
    } else {
        b"{\"entries\":[]}".to_vec()
    };
    Ok(json_response(StatusCode::OK, out))
}

// ---------------------------------------------------------------- query

async fn query_entries(
    AxState(sh): Sh,
    Extension(auth): Extension<Auth>,
    Path(key): Path<String>,
    Query(q): Q,
    body: Bytes,
) -> ApiResult {
    let b = parse_json(&body)?;
    if !b.is_object() {
        return Err(ApiError::bad("The query body must be a JSON object"));
    }
    let kind = b.get("type").and_then(Value::as_str).unwrap_or("select");
    let perm = match kind {
        "select" => Perm::Select,
        "delete" => Perm::Delete,
        other => return Err(ApiError::bad(format!("Unsupported query type \"{other}\""))),
    };
    let filter = b.get("where").filter(|w| !w.is_null());
    if let Some(w) = filter {
        query::validate(w).map_err(ApiError::bad)?;
    }
    if b.get("aggregate").is_some_and(|a| !a.is_null()) {
        return Err(ApiError::bad("aggregate is not supported by the emulator"));
    }
    let attributes: Option<Vec<String>> = match b.get("attributes") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            serde_json::from_value(v.clone())
                .map_err(|_| ApiError::bad("attributes must be an array of column names"))?,
        ),
    };
    let order: Vec<(String, bool)> = match b.get("order") {
        None | Some(Value::Null) => vec![],
        Some(Value::Array(items)) => items
            .iter()
            .map(|it| match it {
                Value::Array(pair) if !pair.is_empty() => {
                    let col = pair[0]
                        .as_str()
                        .ok_or_else(|| ApiError::bad("order column must be a string"))?;
                    let desc = pair
                        .get(1)
                        .and_then(Value::as_str)
                        .is_some_and(|d| d.eq_ignore_ascii_case("desc"));
                    Ok((col.to_string(), desc))
                }
                Value::String(col) => Ok((col.clone(), false)),
                _ => Err(ApiError::bad(
                    "order must be [[column, \"ASC\"|\"DESC\"], ...]",
                )),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(ApiError::bad(
                "order must be [[column, \"ASC\"|\"DESC\"], ...]",
            ));
        }
    };
    let limit = b.get("limit").and_then(Value::as_u64);
    let offset = b.get("offset").and_then(Value::as_u64).unwrap_or(0);
    let pagination = b
        .get("includePagination")
        .and_then(Value::as_bool)
        .unwrap_or(false);

    let mut db = sh.db();
    let ds = access(&db, &auth, &key, &q, perm)?;
    let d = &db.ds[&ds];
    // Parse every entry only when something needs the values.
    let needs_values = filter.is_some() || !order.is_empty() || attributes.is_some();
    let mut rows: Vec<(u64, Option<Value>)> = Vec::new();
    for (id, e) in &d.entries {
        if needs_values {
            let v: Value = serde_json::from_str(&e.data).unwrap_or(Value::Null);
            if let Some(w) = filter
                && !query::matches(&v, w).map_err(ApiError::bad)?
            {
                continue;
            }
            rows.push((*id, Some(v)));
        } else {
            rows.push((*id, None));
        }
    }
    if !order.is_empty() {
        let entry_field = |id: u64, col: &str| -> Option<Value> {
            let e = &d.entries[&id];
            match col {
                "id" => Some(json!(id)),
                "createdAt" => Some(json!(&*e.created_at)),
                "updatedAt" => Some(json!(&*e.updated_at)),
                _ => None,
            }
        };
        rows.sort_by(|a, b| {
            for (col, desc) in &order {
                let (x, y) = if matches!(col.as_str(), "id" | "createdAt" | "updatedAt") {
                    (entry_field(a.0, col), entry_field(b.0, col))
                } else {
                    (
                        a.1.as_ref().and_then(|v| query::lookup(v, col)).cloned(),
                        b.1.as_ref().and_then(|v| query::lookup(v, col)).cloned(),
                    )
                };
                let o = query::total_cmp(x.as_ref(), y.as_ref());
                let o = if *desc { o.reverse() } else { o };
                if o != std::cmp::Ordering::Equal {
                    return o;
                }
            }
            std::cmp::Ordering::Equal
        });
    }
    let total = rows.len();
    let page: Vec<(u64, Option<Value>)> = rows
        .into_iter()
        .skip(offset as usize)
        .take(limit.map(|l| l as usize).unwrap_or(usize::MAX))
        .collect();

    let mut out = Vec::with_capacity(page.len() * 160 + 64);
    out.extend_from_slice(b"{");
    if kind == "delete" {
        use std::io::Write;
        let _ = write!(out, "\"deletedCount\":{},", page.len());
    }
    out.extend_from_slice(b"\"entries\":[");
    for (i, (id, v)) in page.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let e = &d.entries[id];
        match (&attributes, v) {
            (Some(attrs), Some(v)) => {
                let mut data = serde_json::Map::new();
                for a in attrs {
                    let col = a.strip_prefix("data.").unwrap_or(a);
                    if let Some(val) = v.get(col) {
                        data.insert(col.to_string(), val.clone());
                    }
                }
                let obj = json!({
                    "id": id, "dataSourceId": ds, "data": data,
                    "createdAt": &*e.created_at, "updatedAt": &*e.updated_at,
                });
                out.extend_from_slice(obj.to_string().as_bytes());
            }
            _ => write_entry(&mut out, ds, *id, e),
        }
    }
    out.extend_from_slice(b"]");
    if pagination {
        let p = json!({ "total": total, "limit": limit, "offset": offset });
        out.extend_from_slice(b",\"pagination\":");
        out.extend_from_slice(p.to_string().as_bytes());
    }
    out.extend_from_slice(b"}");
    if kind == "delete" {
        let d = db.ds.get_mut(&ds).expect("exists");
        for (id, _) in &page {
            d.entries.remove(id);
        }
    }
    Ok(json_response(StatusCode::OK, out))
}

async fn indexes(
    AxState(sh): Sh,
    Extension(auth): Extension<Auth>,
    Path((key, cols)): Path<(String, String)>,
    Query(q): Q,
) -> ApiResult {
    let db = sh.db();
    let ds = access(&db, &auth, &key, &q, Perm::Select)?;
    let cols: Vec<&str> = cols
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    let mut result = serde_json::Map::new();
    let parsed: Vec<Value> = db.ds[&ds]
        .entries
        .values()
        .map(|e| serde_json::from_str(&e.data).unwrap_or(Value::Null))
        .collect();
    for c in cols {
        let mut seen: Vec<Value> = vec![];
        for v in &parsed {
            if let Some(x) = query::lookup(v, c)
                && !x.is_null()
                && !seen.contains(x)
            {
                seen.push(x.clone());
            }
        }
        result.insert(c.to_string(), Value::Array(seen));
    }
    ok_json(&json!({ "indexes": result }))
}

// ---------------------------------------------------------------- media

pub fn host_of(headers: &HeaderMap, fallback: &str) -> String {
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|h| format!("http://{h}"))
        .unwrap_or_else(|| fallback.to_string())
}

fn encode_segment(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub fn file_url(base: &str, id: u64, name: &str) -> String {
    format!(
        "{base}/v1/media/files/{id}/contents/{}",
        encode_segment(name)
    )
}

fn folder_json(f: &MediaFolder) -> Value {
    json!({
        "id": f.id, "name": f.name, "parentId": f.parent_id, "organizationId": f.organization_id,
        "appId": f.app_id, "createdAt": f.created_at, "updatedAt": f.updated_at, "deletedAt": null,
    })
}

fn file_json(f: &StoredFile, base: &str) -> Value {
    let m = &f.meta;
    let path = match m.media_folder_id {
        Some(folder) => format!(
            "organizations/{}/folders/{folder}/{}",
            m.organization_id, m.name
        ),
        None => format!("organizations/{}/{}", m.organization_id, m.name),
    };
    json!({
        "id": m.id,
        "name": m.name,
        "contentType": m.content_type,
        "path": path,
        "url": file_url(base, m.id, &m.name),
        "thumbnail": null,
        "size": null,
        "metadata": {
            "size": f.bytes.len(),
            "checksum": md5_hex(&f.bytes),
            "clientChecksum": m.client_checksum,
        },
        "isEncrypted": null,
        "versions": {},
        "isOrganizationMedia": m.app_id.is_none(),
        "mediaFolderId": m.media_folder_id,
        "organizationId": m.organization_id,
        "appId": m.app_id,
        "userId": m.user_id,
        "dataSourceEntryId": null,
        "dataTrackingId": null,
        "createdAt": m.created_at,
        "updatedAt": m.updated_at,
        "deletedAt": null,
    })
}

async fn list_media(
    AxState(sh): Sh,
    Extension(auth): Extension<Auth>,
    Query(q): Q,
    headers: HeaderMap,
) -> ApiResult {
    let base = host_of(&headers, &sh.base_url);
    let db = sh.db();
    let folder: Option<u64> = q.get("folderId").and_then(|s| s.parse().ok());
    let org: Option<u64> = q.get("organizationId").and_then(|s| s.parse().ok());
    let app: Option<u64> = q.get("appId").and_then(|s| s.parse().ok());
    let (folders, files): (Vec<Value>, Vec<Value>) = if let Some(fid) = folder {
        let f = db
            .folders
            .get(&fid)
            .ok_or_else(|| ApiError::not_found(format!("Folder {fid} not found")))?;
        if !db.user_in_org(auth.user_id, f.organization_id) {
            return Err(ApiError::file_access("access this file"));
        }
        (
            db.folders
                .values()
                .filter(|x| x.parent_id == Some(fid))
                .map(folder_json)
                .collect(),
            db.files
                .values()
                .filter(|x| x.meta.media_folder_id == Some(fid))
                .map(|x| file_json(x, &base))
                .collect(),
        )
    } else if let Some(o) = org {
        if !db.user_in_org(auth.user_id, o) {
            return Err(ApiError::file_access("access this file"));
        }
        (
            db.folders
                .values()
                .filter(|x| x.organization_id == o && x.parent_id.is_none() && x.app_id.is_none())
                .map(folder_json)
                .collect(),
            db.files
                .values()
                .filter(|x| {
                    x.meta.organization_id == o
                        && x.meta.media_folder_id.is_none()
                        && x.meta.app_id.is_none()
                })
                .map(|x| file_json(x, &base))
                .collect(),
        )
    } else if let Some(a) = app {
        let orgs = db.user_orgs(auth.user_id);
        (
            db.folders
                .values()
                .filter(|x| {
                    x.app_id == Some(a)
                        && x.parent_id.is_none()
                        && orgs.contains(&x.organization_id)
                })
                .map(folder_json)
                .collect(),
            db.files
                .values()
                .filter(|x| {
                    x.meta.app_id == Some(a)
                        && x.meta.media_folder_id.is_none()
                        && orgs.contains(&x.meta.organization_id)
                })
                .map(|x| file_json(x, &base))
                .collect(),
        )
    } else {
        return Err(ApiError::bad(
            "A context is required: organizationId, appId or folderId",
        ));
    };
    ok_json(&json!({ "folders": folders, "files": files }))
}

async fn create_folder(
    AxState(sh): Sh,
    Extension(auth): Extension<Auth>,
    Query(q): Q,
    body: Bytes,
) -> ApiResult {
    let b = parse_json(&body)?;
    let name = b
        .get("name")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::bad("A folder name is required"))?
        .to_string();
    let mut db = sh.db();
    let parent = num_param(&q, Some(&b), "parentId");
    let app = num_param(&q, Some(&b), "appId");
    let org = match (num_param(&q, Some(&b), "organizationId"), parent) {
        (Some(o), _) => o,
        (None, Some(p)) => {
            db.folders
                .get(&p)
                .ok_or_else(|| ApiError::not_found(format!("Folder {p} not found")))?
                .organization_id
        }
        (None, None) if app.is_some() => *db
            .user_orgs(auth.user_id)
            .first()
            .ok_or_else(|| ApiError::file_access("create files here"))?,
        _ => {
            return Err(ApiError::bad(
                "A context is required: organizationId, parentId or appId",
            ));
        }
    };
    if let Some(p) = parent
        && !db.folders.contains_key(&p)
    {
        return Err(ApiError::not_found(format!("Folder {p} not found")));
    }
    if !db.user_in_org(auth.user_id, org) {
        return Err(ApiError::file_access("create files here"));
    }
    let id = db.next_folder();
    let ts = db.now().to_string();
    let f = MediaFolder {
        id,
        name,
        parent_id: parent,
        organization_id: org,
        app_id: app,
        created_at: ts.clone(),
        updated_at: ts,
    };
    let out = folder_json(&f);
    db.folders.insert(id, f);
    ok_json(&out)
}

async fn upload_files(
    AxState(sh): Sh,
    Extension(auth): Extension<Auth>,
    Query(q): Q,
    headers: HeaderMap,
    mut mp: Multipart,
) -> ApiResult {
    let base = host_of(&headers, &sh.base_url);
    let mut parts: Vec<(Option<usize>, String, String, Bytes)> = vec![];
    let mut fields: HashMap<String, String> = HashMap::new();
    while let Some(field) = mp
        .next_field()
        .await
        .map_err(|e| ApiError::bad(format!("Invalid multipart body: {e}")))?
    {
        let name = field.name().unwrap_or("").to_string();
        if name == "files" || name.starts_with("files[") {
            let idx = name
                .strip_prefix("files[")
                .and_then(|s| s.strip_suffix(']'))
                .and_then(|s| s.parse().ok());
            let filename = field.file_name().unwrap_or("").to_string();
            let ct = field.content_type().map(str::to_string).unwrap_or_default();
            let bytes = field
                .bytes()
                .await
                .map_err(|e| ApiError::bad(e.to_string()))?;
            parts.push((idx, filename, ct, bytes));
        } else {
            let text = field
                .text()
                .await
                .map_err(|e| ApiError::bad(e.to_string()))?;
            fields.insert(name, text);
        }
    }
    if parts.is_empty() {
        return Err(ApiError::bad(
            "No file was uploaded (expected a part named files)",
        ));
    }
    let mut db = sh.db();
    let folder = q.get("folderId").and_then(|s| s.parse::<u64>().ok());
    let org = match (
        q.get("organizationId").and_then(|s| s.parse::<u64>().ok()),
        folder,
    ) {
        (Some(o), _) => o,
        (None, Some(f)) => {
            db.folders
                .get(&f)
                .ok_or_else(|| ApiError::not_found(format!("Folder {f} not found")))?
                .organization_id
        }
        (None, None) => *db
            .user_orgs(auth.user_id)
            .first()
            .ok_or_else(|| ApiError::file_access("create files here"))?,
    };
    if let Some(f) = folder {
        let fo = db
            .folders
            .get(&f)
            .ok_or_else(|| ApiError::not_found(format!("Folder {f} not found")))?;
        if !db.user_in_org(auth.user_id, fo.organization_id) {
            return Err(ApiError::file_access("create files here"));
        }
    }
    if !db.user_in_org(auth.user_id, org) {
        return Err(ApiError::file_access("create files here"));
    }
    let app = q.get("appId").and_then(|s| s.parse::<u64>().ok());
    let mut out = vec![];
    for (n, (idx, filename, ct, bytes)) in parts.into_iter().enumerate() {
        let i = idx.unwrap_or(n);
        let name = fields
            .get(&format!("name[{i}]"))
            .cloned()
            .or_else(|| if n == 0 { q.get("name").cloned() } else { None })
            .or_else(|| {
                if n == 0 {
                    fields.get("name").cloned()
                } else {
                    None
                }
            })
            .filter(|s| !s.is_empty())
            .unwrap_or(if filename.is_empty() {
                format!("file-{i}")
            } else {
                filename
            });
        let checksum = fields
            .get(&format!("checksum[{i}]"))
            .or_else(|| fields.get("checksum"))
            .cloned();
        let content_type = if ct.is_empty() {
            "application/octet-stream".to_string()
        } else {
            ct
        };
        let id = db.next_file();
        let ts = db.now().to_string();
        let f = StoredFile {
            meta: MediaFileState {
                id,
                name,
                content_type,
                media_folder_id: folder,
                organization_id: org,
                app_id: app,
                user_id: Some(auth.user_id),
                client_checksum: checksum,
                content_base64: String::new(),
                created_at: ts.clone(),
                updated_at: ts,
            },
            bytes,
        };
        out.push(file_json(&f, &base));
        db.files.insert(id, f);
    }
    ok_json(&json!({ "files": out }))
}

fn file_for<'a>(db: &'a Db, auth: &Auth, id: &str) -> Result<&'a StoredFile, ApiError> {
    let f = id
        .parse::<u64>()
        .ok()
        .and_then(|id| db.files.get(&id))
        .ok_or_else(|| ApiError::not_found(format!("File {id} not found")))?;
    if !db.user_in_org(auth.user_id, f.meta.organization_id) {
        return Err(ApiError::file_access("access this file"));
    }
    Ok(f)
}

async fn get_file(
    AxState(sh): Sh,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult {
    let base = host_of(&headers, &sh.base_url);
    let db = sh.db();
    let f = file_for(&db, &auth, &id)?;
    ok_json(&file_json(f, &base))
}

async fn delete_file(
    AxState(sh): Sh,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
) -> ApiResult {
    let mut db = sh.db();
    let fid = file_for(&db, &auth, &id)?.meta.id;
    db.files.remove(&fid);
    ok_json(&json!({}))
}

async fn delete_folder(
    AxState(sh): Sh,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
) -> ApiResult {
    let mut db = sh.db();
    let f = id
        .parse::<u64>()
        .ok()
        .and_then(|id| db.folders.get(&id))
        .ok_or_else(|| ApiError::not_found(format!("Folder {id} not found")))?;
    if !db.user_in_org(auth.user_id, f.organization_id) {
        return Err(ApiError::file_access("access this file"));
    }
    let fid = f.id;
    db.folders.remove(&fid);
    db.files.retain(|_, x| x.meta.media_folder_id != Some(fid));
    ok_json(&json!({}))
}

fn serve_file(sh: &Shared, id: &str) -> ApiResult {
    let db = sh.db();
    let f = id
        .parse::<u64>()
        .ok()
        .and_then(|id| db.files.get(&id))
        .ok_or_else(|| ApiError::not_found(format!("File {id} not found")))?;
    let mut r = Response::new(Body::from(f.bytes.clone()));
    if let Ok(v) = f.meta.content_type.parse() {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    Ok(r)
}

async fn file_contents(AxState(sh): Sh, Path(id): Path<String>) -> ApiResult {
    serve_file(&sh, &id)
}

async fn file_contents_named(
    AxState(sh): Sh,
    Path((id, _name)): Path<(String, String)>,
) -> ApiResult {
    serve_file(&sh, &id)
}

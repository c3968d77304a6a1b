//! Seeding operations shared by the library API and the `/__emulator/*` control plane.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State as AxState};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post, put};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::model::*;
use crate::server::{ApiError, Shared, json_value};
use crate::store::{ColumnTracker, Db, Ds, TokenInfo, stored_to_entry};

impl Shared {
    pub fn add_organization(&self, name: &str) -> u64 {
        let mut db = self.db();
        let id = db.next_org();
        db.orgs.insert(
            id,
            Organization {
                id,
                name: name.to_string(),
            },
        );
        id
    }

    pub fn add_user(&self, organization_id: u64, full_name: &str, email: &str) -> u64 {
        let mut db = self.db();
        let id = db.next_user();
        db.users.insert(
            id,
            User {
                id,
                email: email.to_string(),
                full_name: full_name.to_string(),
                first_name: Some(full_name.to_string()),
                last_name: None,
                is_admin: false,
                organization_ids: vec![organization_id],
            },
        );
        id
    }

    pub fn add_token(&self, user_id: u64, token: &str) {
        let mut db = self.db();
        let old = db
            .tokens
            .remove(token)
            .map(|t| t.grants)
            .unwrap_or_default();
        db.tokens.insert(
            token.to_string(),
            TokenInfo {
                user_id,
                grants: old,
            },
        );
    }

    pub fn add_data_source(
        &self,
        organization_id: u64,
        name: &str,
        r#type: Option<String>,
        columns: Option<Vec<String>>,
    ) -> u64 {
        let mut db = self.db();
        let id = db.next_ds();
        let ts = db.now().to_string();
        db.ds.insert(
            id,
            Ds {
                meta: DataSource {
                    id,
                    name: name.to_string(),
                    organization_id,
                    app_id: None,
                    r#type,
                    columns,
                    hooks: vec![],
                    created_at: ts.clone(),
                    updated_at: ts,
                },
                entries: Default::default(),
            },
        );
        id
    }

    pub fn grant(&self, token: &str, ds: u64, perms: &[Perm]) {
        self.db().grant(token, ds, perms);
    }

    pub fn revoke(&self, token: &str, ds: u64, perms: &[Perm]) {
        let mut db = self.db();
        if let Some(t) = db.tokens.get_mut(token)
            && let Some(bits) = t.grants.get_mut(&ds)
        {
            for p in perms {
                *bits &= !p.bit();
            }
        }
    }

    /// Insert entries (each must be a JSON object; anything else is stored as `{}`).
    pub fn insert_entries(&self, ds: u64, data: Vec<Value>) -> Vec<u64> {
        let mut db = self.db();
        if !db.ds.contains_key(&ds) {
            return vec![];
        }
        let ts = db.now();
        let mut cols = ColumnTracker::new(&db.ds[&ds].meta);
        let mut ids = Vec::with_capacity(data.len());
        for v in data {
            let text = match &v {
                Value::Object(m) => {
                    cols.see(m.keys());
                    serde_json::to_string(&v).expect("a Value serialises")
                }
                _ => "{}".to_string(),
            };
            ids.push(db.insert_entry(ds, text.into_boxed_str(), &ts));
        }
        cols.apply(&mut db.ds.get_mut(&ds).expect("exists").meta);
        ids
    }

    pub fn entries(&self, ds: u64) -> Vec<Entry> {
        let db = self.db();
        db.ds
            .get(&ds)
            .map(|d| {
                d.entries
                    .iter()
                    .map(|(id, e)| stored_to_entry(*id, e))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn data_source(&self, id: u64) -> Option<DataSource> {
        self.db().ds.get(&id).map(|d| d.meta.clone())
    }

    pub fn setup_basic(&self) -> Basic {
        let organization_id = self.add_organization("Acme Ltd");
        let user_id = self.add_user(organization_id, "Test User", "test@acme.test");
        let token = "eu--test-token".to_string();
        self.add_token(user_id, &token);
        let data_source_id = self.add_data_source(organization_id, "Staff", None, None);
        self.grant(&token, data_source_id, Perm::ALL);
        Basic {
            token,
            organization_id,
            user_id,
            data_source_id,
        }
    }

    pub fn journal_entries(&self) -> Vec<JournalEntry> {
        self.journal()
            .records
            .iter()
            .map(|r| r.to_entry())
            .collect()
    }

    pub fn replace_state(&self, state: State) -> anyhow::Result<()> {
        let mut new = Db::from_state(state)?;
        let mut db = self.db();
        new.settings = db.settings.clone();
        new.last_ms = new.last_ms.max(db.last_ms);
        *db = new;
        Ok(())
    }

    /// Empty state, default switches, no faults, empty journal.
    pub fn reset(&self) {
        *self.db() = Db::default();
        self.journal().clear();
        self.faults().clear();
        self.rate().clear();
    }
}

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route(
            "/__emulator/state",
            get(get_state).put(put_state).post(put_state),
        )
        .route("/__emulator/seed", post(put_state))
        .route("/__emulator/reset", post(reset))
        .route("/__emulator/setup-basic", post(setup_basic))
        .route("/__emulator/organizations", post(add_org))
        .route("/__emulator/users", post(add_user))
        .route("/__emulator/tokens", post(add_token))
        .route("/__emulator/grants", post(grant).delete(revoke))
        .route("/__emulator/data-sources", post(add_ds))
        .route("/__emulator/data-sources/{id}", get(get_ds))
        .route(
            "/__emulator/data-sources/{id}/entries",
            get(get_entries).post(post_entries),
        )
        .route(
            "/__emulator/journal",
            get(get_journal).delete(clear_journal),
        )
        .route(
            "/__emulator/faults",
            get(get_faults).post(add_fault).delete(clear_faults),
        )
        .route(
            "/__emulator/settings",
            get(get_settings).put(put_settings).post(put_settings),
        )
        .route(
            "/__emulator/rate-limit",
            put(put_rate_limit).post(put_rate_limit),
        )
}

type Sh = AxState<Arc<Shared>>;
type CResult = Result<Response, ApiError>;

fn ok(v: Value) -> CResult {
    Ok(json_value(StatusCode::OK, &v))
}

fn body<T: for<'de> Deserialize<'de>>(b: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(b).map_err(|e| ApiError::bad(format!("Invalid control-plane body: {e}")))
}

async fn get_state(AxState(sh): Sh) -> CResult {
    let s = sh.db().to_state();
    ok(serde_json::to_value(s).map_err(|e| ApiError::new(500, e.to_string()))?)
}

async fn put_state(AxState(sh): Sh, b: Bytes) -> CResult {
    let s: State = body(&b)?;
    sh.replace_state(s)
        .map_err(|e| ApiError::bad(e.to_string()))?;
    ok(json!({}))
}

async fn reset(AxState(sh): Sh) -> CResult {
    sh.reset();
    ok(json!({}))
}

async fn setup_basic(AxState(sh): Sh) -> CResult {
    ok(serde_json::to_value(sh.setup_basic()).expect("serialisable"))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewOrg {
    name: String,
}

async fn add_org(AxState(sh): Sh, b: Bytes) -> CResult {
    let o: NewOrg = body(&b)?;
    ok(json!({ "id": sh.add_organization(&o.name) }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewUser {
    organization_id: u64,
    full_name: String,
    email: String,
}

async fn add_user(AxState(sh): Sh, b: Bytes) -> CResult {
    let u: NewUser = body(&b)?;
    ok(json!({ "id": sh.add_user(u.organization_id, &u.full_name, &u.email) }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewToken {
    user_id: u64,
    token: String,
}

async fn add_token(AxState(sh): Sh, b: Bytes) -> CResult {
    let t: NewToken = body(&b)?;
    sh.add_token(t.user_id, &t.token);
    ok(json!({}))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GrantBody {
    token: String,
    data_source_id: u64,
    perms: Vec<Perm>,
}

async fn grant(AxState(sh): Sh, b: Bytes) -> CResult {
    let g: GrantBody = body(&b)?;
    sh.grant(&g.token, g.data_source_id, &g.perms);
    ok(json!({}))
}

async fn revoke(AxState(sh): Sh, b: Bytes) -> CResult {
    let g: GrantBody = body(&b)?;
    sh.revoke(&g.token, g.data_source_id, &g.perms);
    ok(json!({}))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewDs {
    organization_id: u64,
    name: String,
    #[serde(default)]
    r#type: Option<String>,
    #[serde(default)]
    columns: Option<Vec<String>>,
}

async fn add_ds(AxState(sh): Sh, b: Bytes) -> CResult {
    let d: NewDs = body(&b)?;
    ok(json!({ "id": sh.add_data_source(d.organization_id, &d.name, d.r#type, d.columns) }))
}

async fn get_ds(AxState(sh): Sh, Path(id): Path<u64>) -> CResult {
    let d = sh
        .data_source(id)
        .ok_or_else(|| ApiError::not_found(format!("Data source {id} not found")))?;
    ok(serde_json::to_value(d).expect("serialisable"))
}

async fn get_entries(AxState(sh): Sh, Path(id): Path<u64>) -> CResult {
    if sh.data_source(id).is_none() {
        return Err(ApiError::not_found(format!("Data source {id} not found")));
    }
    ok(serde_json::to_value(sh.entries(id)).expect("serialisable"))
}

async fn post_entries(AxState(sh): Sh, Path(id): Path<u64>, b: Bytes) -> CResult {
    let data: Vec<Value> = body(&b)?;
    if data.iter().any(|v| !v.is_object()) {
        return Err(ApiError::bad("Each entry must be a JSON object"));
    }
    if sh.data_source(id).is_none() {
        return Err(ApiError::not_found(format!("Data source {id} not found")));
    }
    ok(json!({ "ids": sh.insert_entries(id, data) }))
}

async fn get_journal(AxState(sh): Sh) -> CResult {
    ok(serde_json::to_value(sh.journal_entries()).expect("serialisable"))
}

async fn clear_journal(AxState(sh): Sh) -> CResult {
    sh.journal().clear();
    ok(json!({}))
}

/// Control-plane form of a [`Fault`].
#[derive(Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultBody {
    #[serde(default = "star")]
    pub method: String,
    pub path: String,
    #[serde(default = "one")]
    pub times: u32,
    /// Matching requests let through before the fault applies.
    #[serde(default)]
    pub after: u32,
    #[serde(default)]
    pub respond: Option<RespondBody>,
    #[serde(default)]
    pub delay_ms: Option<u64>,
    #[serde(default)]
    pub drop: bool,
    /// Answer with a non-JSON body (`respondText`), e.g. a gateway's HTML page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub respond_text: Option<RespondTextBody>,
    /// Handle the request normally first (its effect stays): with `drop`, the answer is lost;
    /// with `delayMs`, the answer is held after applying; with `respondText`, the answer is
    /// replaced.
    #[serde(default)]
    pub apply: bool,
}

#[derive(Deserialize, serde::Serialize)]
pub struct RespondBody {
    pub status: u16,
    #[serde(default)]
    pub body: Value,
}

#[derive(Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RespondTextBody {
    pub status: u16,
    #[serde(default = "html")]
    pub content_type: String,
    #[serde(default)]
    pub body: String,
}

fn html() -> String {
    "text/html; charset=utf-8".into()
}

fn star() -> String {
    "*".into()
}
fn one() -> u32 {
    1
}

impl FaultBody {
    fn into_fault(self) -> Result<Fault, ApiError> {
        let action = match (
            self.respond,
            self.respond_text,
            self.delay_ms,
            self.drop,
            self.apply,
        ) {
            (Some(r), None, None, false, false) => FaultAction::Respond {
                status: r.status,
                body: r.body,
            },
            (None, Some(t), None, false, apply) => FaultAction::RespondText {
                status: t.status,
                content_type: t.content_type,
                body: t.body,
                apply,
            },
            (None, None, Some(ms), false, false) => FaultAction::Delay(Duration::from_millis(ms)),
            (None, None, Some(ms), false, true) => {
                FaultAction::ApplyThenDelay(Duration::from_millis(ms))
            }
            (None, None, None, true, false) => FaultAction::Drop,
            (None, None, None, true, true) => FaultAction::ApplyThenDrop,
            _ => {
                return Err(ApiError::bad(
                    "A fault needs exactly one of respond, respondText, delayMs or drop:true (apply:true goes with respondText, delayMs or drop)",
                ));
            }
        };
        Ok(Fault {
            method: self.method,
            path: self.path,
            times: self.times,
            after: self.after,
            action,
        })
    }

    fn from_fault(f: &Fault) -> FaultBody {
        let mut b = FaultBody {
            method: f.method.clone(),
            path: f.path.clone(),
            times: f.times,
            after: f.after,
            respond: None,
            delay_ms: None,
            drop: false,
            respond_text: None,
            apply: false,
        };
        match &f.action {
            FaultAction::Respond { status, body } => {
                b.respond = Some(RespondBody {
                    status: *status,
                    body: body.clone(),
                })
            }
            FaultAction::RespondText {
                status,
                content_type,
                body,
                apply,
            } => {
                b.respond_text = Some(RespondTextBody {
                    status: *status,
                    content_type: content_type.clone(),
                    body: body.clone(),
                });
                b.apply = *apply;
            }
            FaultAction::Delay(d) => b.delay_ms = Some(d.as_millis() as u64),
            FaultAction::Drop => b.drop = true,
            FaultAction::ApplyThenDrop => {
                b.drop = true;
                b.apply = true;
            }
            FaultAction::ApplyThenDelay(d) => {
                b.delay_ms = Some(d.as_millis() as u64);
                b.apply = true;
            }
        }
        b
    }
}

async fn add_fault(AxState(sh): Sh, b: Bytes) -> CResult {
    let f: FaultBody = body(&b)?;
    let f = f.into_fault()?;
    sh.faults().push(f);
    ok(json!({}))
}

async fn get_faults(AxState(sh): Sh) -> CResult {
    let list: Vec<FaultBody> = sh.faults().iter().map(FaultBody::from_fault).collect();
    ok(serde_json::to_value(list).expect("serialisable"))
}

async fn clear_faults(AxState(sh): Sh) -> CResult {
    sh.faults().clear();
    ok(json!({}))
}

async fn get_settings(AxState(sh): Sh) -> CResult {
    ok(serde_json::to_value(sh.db().settings.clone()).expect("serialisable"))
}

/// Partial update: only the keys sent change.
async fn put_settings(AxState(sh): Sh, b: Bytes) -> CResult {
    let patch: Value = body(&b)?;
    let Value::Object(patch) = patch else {
        return Err(ApiError::bad("settings must be a JSON object"));
    };
    let mut db = sh.db();
    let mut cur = serde_json::to_value(&db.settings).expect("serialisable");
    for (k, v) in patch {
        cur[k] = v;
    }
    let new: Settings = serde_json::from_value(cur).map_err(|e| ApiError::bad(e.to_string()))?;
    if ![400, 401, 403].contains(&new.denial_status) {
        return Err(ApiError::bad("denialStatus must be 400, 401 or 403"));
    }
    if !new.rate_limit {
        sh.rate().clear();
    }
    db.settings = new.clone();
    ok(serde_json::to_value(new).expect("serialisable"))
}

/// `{"enabled": true, "max"?: 200, "windowMs"?: 10000}`.
async fn put_rate_limit(AxState(sh): Sh, b: Bytes) -> CResult {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Rl {
        enabled: bool,
        max: Option<u32>,
        window_ms: Option<u64>,
    }
    let r: Rl = body(&b)?;
    let mut db = sh.db();
    db.settings.rate_limit = r.enabled;
    if let Some(m) = r.max {
        db.settings.rate_limit_max = m;
    }
    if let Some(w) = r.window_ms {
        db.settings.rate_limit_window_ms = w;
    }
    sh.rate().clear();
    ok(serde_json::to_value(db.settings.clone()).expect("serialisable"))
}

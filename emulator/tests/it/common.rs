use fliplet_emulator::{Basic, Emulator};
use reqwest::Method;
use serde_json::Value;

pub struct Ctx {
    pub emu: Emulator,
    pub basic: Basic,
    pub http: reqwest::Client,
}

pub struct Res {
    pub status: u16,
    pub text: String,
    pub json: Value,
    pub content_type: String,
}

impl Ctx {
    pub async fn new() -> Ctx {
        let emu = Emulator::start().await;
        let basic = emu.setup_basic();
        Ctx {
            emu,
            basic,
            http: reqwest::Client::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/{}", self.emu.url(), path.trim_start_matches('/'))
    }

    pub fn ds(&self) -> u64 {
        self.basic.data_source_id
    }

    /// A request with the basic token in the `Auth-token` header.
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Res {
        self.call_as(&self.basic.token.clone(), method, path, body)
            .await
    }

    pub async fn call_as(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Res {
        let mut req = self
            .http
            .request(method, self.url(path))
            .header("Auth-token", token)
            .header("User-Agent", "Fliplet Agent/2.0.7");
        if let Some(b) = body {
            req = req.json(&b);
        }
        res(req.send().await.expect("request sent")).await
    }

    /// A request whose JSON body is sent as this exact text (keeps key order).
    pub async fn raw(&self, method: Method, path: &str, text: &str) -> Res {
        let req = self
            .http
            .request(method, self.url(path))
            .header("Auth-token", &self.basic.token)
            .header("Content-Type", "application/json")
            .body(text.to_string());
        res(req.send().await.expect("request sent")).await
    }

    pub async fn get(&self, path: &str) -> Res {
        self.call(Method::GET, path, None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> Res {
        self.call(Method::POST, path, Some(body)).await
    }
    pub async fn put(&self, path: &str, body: Value) -> Res {
        self.call(Method::PUT, path, Some(body)).await
    }
    pub async fn delete(&self, path: &str) -> Res {
        self.call(Method::DELETE, path, None).await
    }
    pub async fn commit(&self, body: Value) -> Res {
        self.post(&format!("v1/data-sources/{}/commit", self.ds()), body)
            .await
    }
    pub async fn list(&self) -> Vec<Value> {
        let r = self
            .get(&format!("v1/data-sources/{}/data", self.ds()))
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.json["entries"].as_array().unwrap().clone()
    }
    /// Control-plane call (no token).
    pub async fn control(&self, method: Method, path: &str, body: Option<Value>) -> Res {
        let mut req = self.http.request(method, self.url(path));
        if let Some(b) = body {
            req = req.json(&b);
        }
        res(req.send().await.expect("request sent")).await
    }
}

pub async fn res(r: reqwest::Response) -> Res {
    let status = r.status().as_u16();
    let content_type = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let text = r.text().await.unwrap();
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Res {
        status,
        text,
        json,
        content_type,
    }
}

/// Assert the error contract (docs/fliplet-api.md, "Errors"): JSON with a string `message`.
pub fn assert_error(r: &Res, status: u16) {
    assert_eq!(r.status, status, "body: {}", r.text);
    assert!(
        r.content_type.starts_with("application/json"),
        "content type {}",
        r.content_type
    );
    assert!(r.json["message"].is_string(), "no message in {}", r.text);
}

pub fn is_iso_millis(s: &str) -> bool {
    s.len() == 24
        && s.ends_with('Z')
        && s.as_bytes()[10] == b'T'
        && s.as_bytes()[19] == b'.'
        && chrono::DateTime::parse_from_rfc3339(s).is_ok()
}

//! HTTP JSON source: one request, or several pages (next-link or offset/limit), each
//! response holding an array of records at `records`.
//!
//! Any failure (unreachable host, an error status, a body that is not JSON, no array at the
//! path) fails the whole source, so a push never commits (and never deletes) from a
//! partial or failed read. Header values are secrets: they never appear in messages, and
//! URLs in messages lose their query string (which may hold an API key).

use std::time::Duration;

use serde_json::Value;
use tracing::debug;

use super::records::{at_path, records_at, table_from_records};
use super::{SourceError, Table};
use crate::config::{HttpSource, Pagination};

fn http_error(message: String) -> SourceError {
    SourceError::Http { message }
}

/// A URL for messages: without its query string and credentials.
pub fn display_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            let had_query = u.query().is_some();
            u.set_query(None);
            let _ = u.set_password(None);
            let _ = u.set_username("");
            let mut s = u.to_string();
            if had_query {
                s.push_str("?…");
            }
            s
        }
        Err(_) => "(invalid URL)".into(),
    }
}

fn client(timeout: u64) -> Result<reqwest::Client, SourceError> {
    crate::net::client_builder(crate::net::ca_file_from_env().as_deref())
        .map_err(|e| http_error(e.to_string()))?
        .timeout(Duration::from_secs(timeout))
        .build()
        .map_err(|e| http_error(format!("Cannot set up the HTTP client: {e}")))
}

/// One request; returns the JSON document.
async fn get_page(
    http: &reqwest::Client,
    src: &HttpSource,
    url: &str,
) -> Result<Value, SourceError> {
    let method = reqwest::Method::from_bytes(src.method.as_bytes())
        .map_err(|_| http_error(format!("`{}` is not an HTTP method", src.method)))?;
    let what = format!("{} {}", src.method, display_url(url));
    let mut req = http
        .request(method, url)
        .header(reqwest::header::ACCEPT, "application/json");
    for (name, value) in &src.headers {
        req = req.header(name.as_str(), value.expose());
    }
    if let Some(body) = &src.body {
        req = req.json(body);
    }
    debug!("HTTP source: {what}");
    let resp = req.send().await.map_err(|e| {
        http_error(format!(
            "The HTTP source could not be reached ({what}): {}. Check the URL and the network.",
            without_url(&e)
        ))
    })?;
    let status = resp.status();
    let content_type = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let bytes = resp.bytes().await.map_err(|e| {
        http_error(format!(
            "The HTTP source's response could not be read ({what}): {}",
            without_url(&e)
        ))
    })?;
    if !status.is_success() {
        let hint = match status.as_u16() {
            401 | 403 => " Check the credentials in `headers` (e.g. the Authorization header).",
            404 => " Check the URL.",
            _ => "",
        };
        return Err(http_error(format!(
            "The HTTP source answered {status} ({what}): {}.{hint} Nothing was pushed.",
            snippet(&bytes)
        )));
    }
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    serde_json::from_slice(body).map_err(|e| {
        http_error(format!(
            "The HTTP source did not return JSON ({what}, Content-Type {}): {e}; the response starts with {:?}. Nothing was pushed.",
            if content_type.is_empty() { "not set" } else { &content_type },
            snippet(&bytes)
        ))
    })
}

fn without_url(e: &reqwest::Error) -> String {
    let mut e_str = e.to_string();
    if let Some(u) = e.url() {
        e_str = e_str.replace(u.as_str(), &display_url(u.as_str()));
    }
    e_str
}

fn snippet(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    let s: String = s.chars().take(120).collect();
    s.trim().to_string()
}

fn set_params(url: &str, params: &[(&str, String)]) -> Result<String, SourceError> {
    let mut u = url::Url::parse(url).map_err(|e| http_error(format!("Invalid URL: {e}")))?;
    let keep: Vec<(String, String)> = u
        .query_pairs()
        .filter(|(k, _)| !params.iter().any(|(p, _)| p == k))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    {
        let mut q = u.query_pairs_mut();
        q.clear();
        for (k, v) in &keep {
            q.append_pair(k, v);
        }
        for (k, v) in params {
            q.append_pair(k, v);
        }
    }
    Ok(u.to_string())
}

/// Fetch every record of an HTTP source.
pub async fn fetch(src: &HttpSource) -> Result<Table, SourceError> {
    let http = client(src.timeout_seconds)?;
    let mut records: Vec<Value> = Vec::new();
    match &src.pagination {
        None => {
            let doc = get_page(&http, src, &src.url).await?;
            let what = format!("the response of {} {}", src.method, display_url(&src.url));
            records = records_at(doc, src.records.as_deref(), &what).map_err(http_error)?;
        }
        Some(Pagination::NextLink { next, max_pages }) => {
            let mut url = src.url.clone();
            let mut seen = std::collections::HashSet::new();
            for page in 1..=*max_pages {
                seen.insert(url.clone());
                let doc = get_page(&http, src, &url).await?;
                let next_url = match at_path(&doc, next) {
                    Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
                    _ => None,
                };
                let what = format!(
                    "the response of {} {} (page {page})",
                    src.method,
                    display_url(&url)
                );
                records.extend(records_at(doc, src.records.as_deref(), &what).map_err(http_error)?);
                let Some(n) = next_url else { break };
                let base = url::Url::parse(&url).map_err(|e| http_error(e.to_string()))?;
                let joined = base.join(&n).map_err(|e| {
                    http_error(format!("The next-page link at `{next}` is not a URL ({e})"))
                })?;
                url = joined.to_string();
                if seen.contains(&url) {
                    return Err(http_error(format!(
                        "The HTTP source's next-page link at `{next}` points back to a page already fetched ({}); stopping to avoid a loop. Nothing was pushed.",
                        display_url(&url)
                    )));
                }
                if page == *max_pages {
                    return Err(http_error(format!(
                        "The HTTP source still had more pages after `max_pages: {max_pages}`; raise `max_pages` or check `pagination.next`. Nothing was pushed."
                    )));
                }
            }
        }
        Some(Pagination::Offset {
            offset_param,
            limit_param,
            limit,
            max_pages,
        }) => {
            for page in 0..*max_pages {
                let url = set_params(
                    &src.url,
                    &[
                        (offset_param.as_str(), (page * limit).to_string()),
                        (limit_param.as_str(), limit.to_string()),
                    ],
                )?;
                let doc = get_page(&http, src, &url).await?;
                let what = format!(
                    "the response of {} {} (page {})",
                    src.method,
                    display_url(&url),
                    page + 1
                );
                let got = records_at(doc, src.records.as_deref(), &what).map_err(http_error)?;
                let n = got.len() as u64;
                records.extend(got);
                if n < *limit {
                    break;
                }
                if page + 1 == *max_pages {
                    return Err(http_error(format!(
                        "The HTTP source still had more pages after `max_pages: {max_pages}`; raise `max_pages`. Nothing was pushed."
                    )));
                }
            }
        }
    }
    debug!("HTTP source returned {} records.", records.len());
    let what = format!("the HTTP source {}", display_url(&src.url));
    table_from_records(records, &what).map_err(http_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_in_messages_hide_queries_and_credentials() {
        assert_eq!(
            display_url("https://u:p@api.test/x?key=secret"),
            "https://api.test/x?…"
        );
        assert_eq!(
            set_params(
                "http://h/x?a=1&offset=5",
                &[("offset", "10".into()), ("limit", "5".into())]
            )
            .unwrap(),
            "http://h/x?a=1&offset=10&limit=5"
        );
    }
}

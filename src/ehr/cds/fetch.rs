//! What the prefetch did not supply, fetched from the EHR's FHIR server (`fhirServer` with
//! `fhirAuthorization`, CDS Hooks §1.3 and §1.6): only from a base URL on the allow-list (setting
//! `cds_fhir_servers`; exact match, so a client cannot point periop at another host), with the
//! request's bearer token, no redirects, one deadline for the whole call, a size cap per
//! response and at most [`MAX_PAGES`] pages per search. The token is never logged or stored; a
//! failure is described by its kind and the prefetch key, never by the URL (a search URL names
//! the patient).
//!
//! A key counts as not supplied when it is absent or holds an OperationOutcome (the client's own
//! fetch failed); `null` means the client has no data and is not fetched. What cannot be
//! fetched stays not supplied: a required key makes the call 412, an optional one makes its
//! inputs missing and reported on the card.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use reqwest::Url;
use serde_json::{Map, Value};

use super::services::fill_template;
use super::types::HookRequest;
use crate::ehr::http_get::{describe, read_capped};

/// Most pages read per search (`Bundle.link[next]`); a search with more keeps its `next` link,
/// so the inputs read from it are reported as possibly incomplete.
pub const MAX_PAGES: usize = 5;
/// Largest response body read from the FHIR server.
pub const MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;

/// The FHIR servers periop may read from and how long it may wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchPolicy {
    /// Base URLs (`https://ehr.example.org/fhir`); http only for a loopback host.
    pub allowed_servers: Vec<String>,
    /// Deadline for everything fetched for one hook call.
    pub timeout: Duration,
}

/// A FHIR server base URL that cannot be allow-listed.
#[derive(Debug, thiserror::Error)]
pub enum FetchConfigError {
    #[error("cds_fhir_servers: {url:?} {constraint}")]
    BadServer { url: String, constraint: String },
    #[error("cds_fhir_timeout_ms: must be between 1 and 60000")]
    BadTimeout,
    #[error("HTTP client: {0}")]
    HttpClient(String),
}

/// What was fetched for one call, and what could not be.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FetchReport {
    /// Prefetch keys read from the FHIR server.
    pub fetched: Vec<String>,
    /// Keys that could not be read, each with the reason.
    pub failed: BTreeMap<String, String>,
    /// Why nothing was fetched at all although keys were missing (no `fhirServer`, not
    /// allow-listed, no usable `fhirAuthorization`).
    pub refused: Option<String>,
}

impl FetchReport {
    /// The reason a not-supplied key stayed unsupplied, for the 412 and the card.
    pub fn reason_for(&self, key: &str) -> Option<&str> {
        self.failed
            .get(key)
            .map(String::as_str)
            .or(self.refused.as_deref())
    }
}

/// Reads missing prefetch keys from allow-listed FHIR servers.
pub struct FhirFetcher {
    client: reqwest::Client,
    allowed: Vec<Url>,
    timeout: Duration,
}

impl FhirFetcher {
    /// Checks every allow-listed base URL (absolute, https or loopback http, no query,
    /// fragment or credentials).
    ///
    /// # Errors
    /// [`FetchConfigError`] naming the URL and the constraint.
    pub fn new(policy: &FetchPolicy) -> Result<Self, FetchConfigError> {
        if policy.timeout.is_zero() || policy.timeout > Duration::from_secs(60) {
            return Err(FetchConfigError::BadTimeout);
        }
        let mut allowed = Vec::new();
        for raw in &policy.allowed_servers {
            allowed.push(
                base_url(raw).map_err(|constraint| FetchConfigError::BadServer {
                    url: raw.clone(),
                    constraint,
                })?,
            );
        }
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(policy.timeout)
            .connect_timeout(policy.timeout)
            .build()
            .map_err(|e| FetchConfigError::HttpClient(e.to_string()))?;
        Ok(Self {
            client,
            allowed,
            timeout: policy.timeout,
        })
    }

    /// Fetches every key of `templates` that `request.prefetch` does not supply, puts what was
    /// read into `request.prefetch` (and into `recorded`, the request as it will be recorded),
    /// and reports what happened.
    pub async fn complete(
        &self,
        request: &mut HookRequest,
        recorded: &mut Value,
        templates: &BTreeMap<String, String>,
    ) -> FetchReport {
        let prefetch = request.prefetch.get_or_insert_with(Map::new);
        let missing: Vec<&String> = templates
            .keys()
            .filter(|key| prefetch.get(*key).is_none_or(is_operation_outcome))
            .collect();
        let mut report = FetchReport::default();
        if missing.is_empty() {
            return report;
        }
        let base = match self.usable_server(request) {
            Ok(base) => base,
            Err(reason) => {
                report.refused = Some(reason);
                return report;
            }
        };
        let token = request
            .fhir_authorization
            .as_ref()
            .map(|a| a.access_token.clone())
            .unwrap_or_default();
        let deadline = Instant::now() + self.timeout;
        let fetches = missing.iter().map(|key| {
            let relative = fill_template(&templates[*key], &request.context);
            let (base, token) = (&base, token.as_str());
            async move {
                let result = match relative {
                    Some(relative) => self.read(base, &relative, token, deadline).await,
                    None => Err("the template names a context field the request lacks".to_string()),
                };
                ((*key).clone(), result)
            }
        });
        let results = futures_util::future::join_all(fetches).await;
        let prefetch = request.prefetch.get_or_insert_with(Map::new);
        for (key, result) in results {
            match result {
                Ok(value) => {
                    if let Some(recorded_prefetch) = recorded_prefetch(recorded) {
                        recorded_prefetch.insert(key.clone(), value.clone());
                    }
                    prefetch.insert(key.clone(), value);
                    report.fetched.push(key);
                }
                Err(reason) => {
                    tracing::warn!(prefetch_key = %key, reason = %reason, "FHIR server fetch failed");
                    report.failed.insert(key, reason);
                }
            }
        }
        report
    }

    /// The request's `fhirServer` when it is allow-listed and comes with a bearer token.
    fn usable_server(&self, request: &HookRequest) -> Result<Url, String> {
        let Some(server) = &request.fhir_server else {
            return Err("the request names no fhirServer".to_string());
        };
        let base = base_url(server).map_err(|c| format!("fhirServer {c}"))?;
        if !self.allowed.contains(&base) {
            return Err(format!(
                "fhirServer {server} is not allow-listed (setting cds_fhir_servers)"
            ));
        }
        let Some(auth) = &request.fhir_authorization else {
            return Err("fhirServer is given without fhirAuthorization".to_string());
        };
        if !auth.token_type.eq_ignore_ascii_case("bearer") || auth.access_token.trim().is_empty() {
            return Err(
                "fhirAuthorization needs token_type \"Bearer\" and an access_token".to_string(),
            );
        }
        Ok(base)
    }

    /// GET `relative` under `base`, following `next` links under the same base.
    async fn read(
        &self,
        base: &Url,
        relative: &str,
        token: &str,
        deadline: Instant,
    ) -> Result<Value, String> {
        let url = under_base(base, relative)?;
        let mut value = self.get(url, token, deadline).await?;
        let mut pages = 1;
        while pages < MAX_PAGES {
            let Some(next) = next_link(&value) else { break };
            let next = Url::parse(&next)
                .ok()
                .filter(|u| is_under(base, u))
                .ok_or_else(|| "a next link leaves the allow-listed FHIR server".to_string())?;
            let page = self.get(next, token, deadline).await?;
            merge_page(&mut value, page);
            pages += 1;
        }
        Ok(value)
    }

    async fn get(&self, url: Url, token: &str, deadline: Instant) -> Result<Value, String> {
        let left = deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| format!("no answer within {} ms", self.timeout.as_millis()))?;
        let response = self
            .client
            .get(url)
            .timeout(left)
            .bearer_auth(token)
            .header(reqwest::header::ACCEPT, "application/fhir+json")
            .send()
            .await
            .map_err(|e| describe(&e, self.timeout))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("the FHIR server answered HTTP {}", status.as_u16()));
        }
        let body = read_capped(response, MAX_RESPONSE_BYTES, self.timeout).await?;
        let value: Value = serde_json::from_slice(&body)
            .map_err(|_| "the FHIR server's answer is not JSON".to_string())?;
        if value.get("resourceType").and_then(Value::as_str).is_none() {
            return Err("the FHIR server's answer is not a FHIR resource".to_string());
        }
        Ok(value)
    }
}

fn is_operation_outcome(value: &Value) -> bool {
    value.get("resourceType").and_then(Value::as_str) == Some("OperationOutcome")
}

fn recorded_prefetch(recorded: &mut Value) -> Option<&mut Map<String, Value>> {
    let object = recorded.as_object_mut()?;
    let prefetch = object
        .entry("prefetch")
        .or_insert_with(|| Value::Object(Map::new()));
    if prefetch.is_null() {
        *prefetch = Value::Object(Map::new());
    }
    prefetch.as_object_mut()
}

/// A base URL as compared with the allow-list: parsed, no trailing slash in the path.
fn base_url(raw: &str) -> Result<Url, String> {
    let mut url = Url::parse(raw.trim()).map_err(|e| format!("is not an absolute URL ({e})"))?;
    let loopback = url.host_str().is_some_and(|host| {
        host == "localhost"
            || host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    });
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => return Err("must be https (http only on a loopback host)".to_string()),
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must not have a query or a fragment".to_string());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry credentials".to_string());
    }
    let path = url.path().trim_end_matches('/').to_string();
    url.set_path(&path);
    Ok(url)
}

/// `true` when `url` is `base` or below it, on the same origin.
fn is_under(base: &Url, url: &Url) -> bool {
    let root = base.path().trim_end_matches('/');
    url.origin() == base.origin()
        && (url.path() == root || url.path().starts_with(&format!("{root}/")))
}

/// `base` joined with a relative template result (`Observation?patient=…`).
fn under_base(base: &Url, relative: &str) -> Result<Url, String> {
    let path = relative.split('?').next().unwrap_or_default();
    if path.contains("://") || path.starts_with('/') {
        return Err("the prefetch query is not relative".to_string());
    }
    let url = Url::parse(&format!(
        "{}/{relative}",
        base.as_str().trim_end_matches('/')
    ))
    .map_err(|_| "the prefetch query is not a valid URL".to_string())?;
    if is_under(base, &url) {
        Ok(url)
    } else {
        Err("the prefetch query leaves the FHIR server's base".to_string())
    }
}

fn next_link(bundle: &Value) -> Option<String> {
    bundle
        .get("link")?
        .as_array()?
        .iter()
        .find(|l| l.get("relation").and_then(Value::as_str) == Some("next"))
        .and_then(|l| l.get("url").and_then(Value::as_str))
        .map(str::to_string)
}

/// Appends a page's entries to the first page and takes over its links (so a last `next`
/// link stays when the page limit is reached).
fn merge_page(first: &mut Value, page: Value) {
    let Value::Object(mut page) = page else {
        return;
    };
    let entries = page
        .remove("entry")
        .and_then(|e| match e {
            Value::Array(a) => Some(a),
            _ => None,
        })
        .unwrap_or_default();
    if let Some(object) = first.as_object_mut() {
        let target = object
            .entry("entry")
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(list) = target {
            list.extend(entries);
        }
        match page.remove("link") {
            Some(links) => object.insert("link".to_string(), links),
            None => object.remove("link"),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_listed_bases_are_https_or_loopback_http_without_query_or_credentials() {
        assert!(base_url("https://ehr.example.org/fhir/").is_ok());
        assert!(base_url("http://127.0.0.1:9000/fhir").is_ok());
        assert!(base_url("http://localhost/fhir").is_ok());
        assert!(base_url("http://ehr.example.org/fhir").is_err());
        assert!(base_url("https://ehr.example.org/fhir?x=1").is_err());
        assert!(base_url("https://user:pw@ehr.example.org/fhir").is_err());
        assert!(base_url("fhir").is_err());
        assert_eq!(
            base_url("https://ehr.example.org/fhir/").ok(),
            base_url("https://ehr.example.org/fhir").ok()
        );
    }

    #[test]
    fn queries_and_next_links_stay_under_the_base() {
        let base = base_url("https://ehr.example.org/fhir").expect("base");
        assert!(under_base(&base, "Patient/p1").is_ok());
        assert!(under_base(&base, "../admin").is_err());
        assert!(under_base(&base, "https://evil.example/x").is_err());
        assert!(under_base(&base, "/Patient/p1").is_err());
        assert!(under_base(&base, "Observation?code=http://loinc.org|718-7").is_ok());
        let inside = Url::parse("https://ehr.example.org/fhir/Observation?page=2").expect("url");
        let sibling = Url::parse("https://ehr.example.org/fhirx/Observation").expect("url");
        let other = Url::parse("https://ehr2.example.org/fhir/Observation").expect("url");
        assert!(is_under(&base, &inside));
        assert!(!is_under(&base, &sibling));
        assert!(!is_under(&base, &other));
    }

    #[test]
    fn pages_are_merged_and_the_last_next_link_is_kept() {
        let mut first = serde_json::json!({"resourceType": "Bundle", "type": "searchset",
            "entry": [{"resource": {"resourceType": "Observation", "id": "a"}}],
            "link": [{"relation": "next", "url": "https://x/fhir?p=2"}]});
        merge_page(
            &mut first,
            serde_json::json!({"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Observation", "id": "b"}}],
                "link": [{"relation": "next", "url": "https://x/fhir?p=3"}]}),
        );
        assert_eq!(first["entry"].as_array().map(Vec::len), Some(2));
        assert_eq!(next_link(&first).as_deref(), Some("https://x/fhir?p=3"));
        merge_page(
            &mut first,
            serde_json::json!({"resourceType": "Bundle", "entry": []}),
        );
        assert_eq!(next_link(&first), None);
    }
}

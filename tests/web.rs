//! The web page's server side over real HTTP on loopback: the shell at `/` and
//! `/assessments/{id}`, the embedded assets under `/app/`, their security headers, and the
//! page's two API helpers (`GET /v1/session`, `GET /v1/features`). The page itself is tested in
//! headless Chromium by `scripts/web-test.sh` (`tests/web/`).

#[path = "support/server.rs"]
mod server;

use serde_json::Value;
use server::{key, spawn_app, TestApp};

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

impl TestApp {
    fn get(&self, role: Option<&str>, path: &str) -> reqwest::blocking::Response {
        let mut req = self.client.get(format!("{}{path}", self.base));
        if let Some(r) = role {
            req = req.bearer_auth(key(r));
        }
        req.send().expect("request")
    }
}

fn header(res: &reqwest::blocking::Response, name: &str) -> Option<String> {
    res.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn assert_secured(res: &reqwest::blocking::Response, path: &str) {
    assert_eq!(
        header(res, "content-security-policy").as_deref(),
        Some(CSP),
        "{path}"
    );
    assert_eq!(
        header(res, "x-content-type-options").as_deref(),
        Some("nosniff"),
        "{path}"
    );
    assert_eq!(
        header(res, "referrer-policy").as_deref(),
        Some("no-referrer"),
        "{path}"
    );
    assert!(header(res, "set-cookie").is_none(), "{path} sets a cookie");
}

#[test]
fn the_shell_is_served_at_the_root_and_at_assessment_links_with_strict_headers() {
    let app = spawn_app(|_| {});
    let root = app.get(None, "/");
    assert_eq!(root.status().as_u16(), 200);
    assert_secured(&root, "/");
    assert_eq!(header(&root, "cache-control").as_deref(), Some("no-store"));
    assert!(header(&root, "content-type").is_some_and(|c| c.starts_with("text/html")));
    let shell = root.text().expect("text");
    assert!(shell.contains("<script type=\"module\" src=\"/app/main.js\">"));

    // The link of a CDS Hooks card: the same shell, no key needed to load the page itself.
    let link = app.get(None, "/assessments/7229595f-0fca-460e-b2be-154c52e419ad");
    assert_eq!(link.status().as_u16(), 200);
    assert_secured(&link, "/assessments/{id}");
    assert_eq!(link.text().expect("text"), shell);
}

#[test]
fn every_asset_is_embedded_with_its_media_type_and_unknown_ones_are_404_problems() {
    let app = spawn_app(|_| {});
    let mut served = 0;
    for name in periop::api::web::asset_names() {
        let res = app.get(None, &format!("/app/{name}"));
        assert_eq!(res.status().as_u16(), 200, "{name}");
        assert_secured(&res, name);
        let ct = header(&res, "content-type").unwrap_or_default();
        let expected = match name.rsplit('.').next() {
            Some("js") => "text/javascript",
            Some("css") => "text/css",
            Some("svg") => "image/svg+xml",
            other => panic!("unexpected asset type {other:?}"),
        };
        assert!(ct.starts_with(expected), "{name}: {ct}");
        assert!(!res.text().expect("text").is_empty(), "{name} is empty");
        served += 1;
    }
    assert!(served >= 5, "only {served} assets");

    for path in ["/app/nope.js", "/app/..%2FCargo.toml", "/app/"] {
        let res = app.get(None, path);
        assert_eq!(res.status().as_u16(), 404, "{path}");
        assert_eq!(
            header(&res, "content-type").as_deref(),
            Some("application/problem+json"),
            "{path}"
        );
    }
}

#[test]
fn the_page_routes_are_not_in_the_openapi_document() {
    let doc = periop::api::openapi::document();
    let paths = doc["paths"].as_object().expect("paths");
    for p in paths.keys() {
        assert!(
            p.starts_with("/v1/")
                || p.starts_with("/cds-services")
                || ["/healthz", "/readyz", "/metrics"].contains(&p.as_str()),
            "unexpected path {p}"
        );
    }
    assert!(!paths.contains_key("/"));
    assert!(!paths.keys().any(|p| p.starts_with("/app")));
    assert!(!paths.contains_key("/assessments/{id}"));
}

#[test]
fn a_post_to_a_page_route_is_refused() {
    let app = spawn_app(|_| {});
    let res = app
        .client
        .post(format!("{}/", app.base))
        .send()
        .expect("post");
    assert!(
        [404, 405].contains(&res.status().as_u16()),
        "{}",
        res.status()
    );
    let body: Value = res.json().unwrap_or(Value::Null);
    assert!(body["code"].is_string(), "{body}");
}

//! The web page's server side over real HTTP on loopback: the shell at `/` and
//! `/assessments/{id}`, the embedded assets under `/app/`, their security headers, and the
//! page's two API helpers (`GET /v1/session`, `GET /v1/features`). The page itself is tested in
//! headless Chromium by `scripts/web-test.sh` (`tests/web/`).

#[path = "support/conform.rs"]
mod conform;
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

#[test]
fn the_session_names_the_key_its_role_and_exactly_its_permissions() {
    let app = spawn_app(|_| {});
    let spec = conform::openapi_document();
    let expected = [
        ("ehr", vec!["assess"]),
        ("clinician", vec!["assess", "read_assessments"]),
        (
            "quality",
            vec![
                "read_assessments",
                "read_models",
                "read_rules",
                "evaluate_rules",
                "read_quality",
                "record_outcomes",
                "read_audit",
            ],
        ),
        (
            "admin",
            vec![
                "assess",
                "read_assessments",
                "read_models",
                "read_rules",
                "evaluate_rules",
                "manage_rules",
                "read_quality",
                "record_outcomes",
                "read_audit",
                "manage_models",
            ],
        ),
    ];
    for (role, permissions) in expected {
        let res = app.get(Some(role), "/v1/session");
        assert_eq!(res.status().as_u16(), 200, "{role}");
        let body: Value = res.json().expect("json");
        conform::assert_conforms(&spec, "/v1/session", "get", 200, &body);
        assert_eq!(body["role"], role);
        assert_eq!(body["key_id"], format!("{role}-key"));
        assert_eq!(body["development_mode"], false);
        assert_eq!(
            body["permissions"],
            serde_json::json!(permissions),
            "{role}"
        );
        assert!(
            !body.to_string().contains(&key(role)),
            "the key itself is echoed"
        );
    }
    for (label, req) in [
        ("no key", app.client.get(format!("{}/v1/session", app.base))),
        (
            "unknown key",
            app.client
                .get(format!("{}/v1/session", app.base))
                .bearer_auth("not-a-key"),
        ),
    ] {
        let res = req.send().expect("request");
        assert_eq!(res.status().as_u16(), 401, "{label}");
        let body: Value = res.json().expect("json");
        conform::assert_conforms(&spec, "/v1/session", "get", 401, &body);
        assert_eq!(body["code"], "unauthorized", "{label}");
    }
}

#[test]
fn development_mode_is_reported_with_every_permission_and_no_role() {
    let app = spawn_app(|s| {
        s.api_keys.clear();
        s.dev_mode_no_auth = true;
    });
    let res = app.get(None, "/v1/session");
    assert_eq!(res.status().as_u16(), 200);
    let body: Value = res.json().expect("json");
    assert_eq!(body["development_mode"], true);
    assert!(body["role"].is_null());
    assert_eq!(body["key_id"], "dev-mode");
    // Every permission, in the order of the role table (the admin's list above).
    assert_eq!(
        body["permissions"],
        serde_json::json!([
            "assess",
            "read_assessments",
            "read_models",
            "read_rules",
            "evaluate_rules",
            "manage_rules",
            "read_quality",
            "record_outcomes",
            "read_audit",
            "manage_models"
        ])
    );
}

#[test]
fn the_feature_dictionary_is_the_exported_one_with_labels_and_the_outcomes() {
    let app = spawn_app(|_| {});
    let spec = conform::openapi_document();
    let exported: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/schemas/feature_dictionary.json"
        ))
        .expect("schemas/feature_dictionary.json"),
    )
    .expect("json");
    for role in ["ehr", "clinician", "quality", "admin"] {
        let res = app.get(Some(role), "/v1/features");
        assert_eq!(res.status().as_u16(), 200, "{role}");
        let body: Value = res.json().expect("json");
        conform::assert_conforms(&spec, "/v1/features", "get", 200, &body);
        assert_eq!(body["version"], exported["version"]);
        let features = body["features"].as_array().expect("features");
        let plain = exported["features"].as_array().expect("exported features");
        assert_eq!(features.len(), plain.len());
        for (f, p) in features.iter().zip(plain) {
            assert_eq!(f["name"], p["name"]);
            for k in [
                "group",
                "type",
                "min",
                "max",
                "levels",
                "unit",
                "required",
                "description",
            ] {
                assert_eq!(f.get(k), p.get(k), "{} {k}", p["name"]);
            }
            assert!(f["label"].as_str().is_some_and(|l| !l.is_empty()), "{f}");
        }
        let age = features
            .iter()
            .find(|f| f["name"] == "age_years")
            .expect("age");
        assert_eq!(
            (age["min"].as_f64(), age["max"].as_f64()),
            (Some(18.0), Some(100.0))
        );
        assert_eq!(age["required"], true);
        let outcomes: Vec<&str> = body["outcomes"]
            .as_array()
            .expect("outcomes")
            .iter()
            .filter_map(|o| o["id"].as_str())
            .collect();
        assert_eq!(outcomes.len(), 11);
        assert!(outcomes.contains(&"dvt") && outcomes.contains(&"blood_loss_ml"));
    }
    let res = app.get(None, "/v1/features");
    assert_eq!(res.status().as_u16(), 401);
}

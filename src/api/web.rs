//! The web page for surgeons and quality teams (`docs/web.md`): one HTML shell served at `/` and
//! at `/assessments/{id}` (the link CDS Hooks cards carry), and its hand-written CSS and vanilla
//! JavaScript under `/app/…`. Everything is embedded in the binary (`include_str!`), so
//! `periop serve` needs no files and no internet; the page talks to the API on the same origin.
//!
//! These routes are not API: they are registered with actix's `.route()` on the plain service
//! config, outside the utoipa table, so they are not in the OpenAPI document. Every response
//! carries a strict Content-Security-Policy (no inline script or style; only same-origin
//! scripts, styles and `fetch`), `nosniff`, `no-referrer`, and `frame-ancestors 'none'`.
//! CSRF: the page keeps the API key in `sessionStorage` and sends it as a bearer header from
//! `fetch()`; no cookie is ever set, so a cross-site request carries no credential.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};

use super::error::{ApiError, Code};

/// The Content-Security-Policy of every page and asset.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; form-action 'self'; \
frame-ancestors 'none'; base-uri 'none'";

/// The HTML shell (the same document for every page route; the script routes on the path).
const SHELL: &str = include_str!("../../web/index.html");

/// One embedded asset: its name under `/app/`, media type and content.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file under `/app/` (a table, not a directory walk: nothing else is served).
const ASSETS: &[Asset] = &[
    Asset {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../../web/app.css"),
    },
    Asset {
        name: "icon.svg",
        content_type: "image/svg+xml",
        body: include_str!("../../web/icon.svg"),
    },
    Asset {
        name: "main.js",
        content_type: JS,
        body: include_str!("../../web/main.js"),
    },
    Asset {
        name: "api.js",
        content_type: JS,
        body: include_str!("../../web/api.js"),
    },
    Asset {
        name: "dom.js",
        content_type: JS,
        body: include_str!("../../web/dom.js"),
    },
    Asset {
        name: "form.js",
        content_type: JS,
        body: include_str!("../../web/form.js"),
    },
    Asset {
        name: "result.js",
        content_type: JS,
        body: include_str!("../../web/result.js"),
    },
    Asset {
        name: "waterfall.js",
        content_type: JS,
        body: include_str!("../../web/waterfall.js"),
    },
    Asset {
        name: "quality.js",
        content_type: JS,
        body: include_str!("../../web/quality.js"),
    },
    Asset {
        name: "rules.js",
        content_type: JS,
        body: include_str!("../../web/rules.js"),
    },
    Asset {
        name: "audit.js",
        content_type: JS,
        body: include_str!("../../web/audit.js"),
    },
    Asset {
        name: "plots.js",
        content_type: JS,
        body: include_str!("../../web/plots.js"),
    },
    Asset {
        name: "monitoring.js",
        content_type: JS,
        body: include_str!("../../web/monitoring.js"),
    },
    Asset {
        name: "performance.js",
        content_type: JS,
        body: include_str!("../../web/performance.js"),
    },
];

/// The names served under `/app/` (for tests and docs).
pub fn asset_names() -> impl Iterator<Item = &'static str> {
    ASSETS.iter().map(|a| a.name)
}

/// Registers `/`, `/assessments/{id}` and `/app/{name}` (GET only), before the API's fallback.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(shell))
        .route("/assessments/{id}", web::get().to(shell))
        .route("/app/{name}", web::get().to(asset));
}

/// The security headers shared by the shell and the assets.
fn secured(mut builder: actix_web::HttpResponseBuilder) -> actix_web::HttpResponseBuilder {
    builder
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"));
    builder
}

async fn shell() -> HttpResponse {
    secured(HttpResponse::Ok())
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(SHELL)
}

async fn asset(req: HttpRequest, name: web::Path<String>) -> HttpResponse {
    let Some(asset) = ASSETS.iter().find(|a| a.name == name.as_str()) else {
        let mut response = ApiError::new(Code::NotFound, format!("no asset /app/{name}"))
            .with_request_id(super::request_id_of(&req))
            .error_response();
        response.headers_mut().insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        );
        return response;
    };
    // Revalidated on every load: a new binary may ship new assets under the same names.
    secured(HttpResponse::Ok())
        .content_type(asset.content_type)
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(asset.body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shell_references_only_embedded_assets_and_has_no_inline_code() {
        for reference in SHELL.split("/app/").skip(1) {
            let name: String = reference
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '-')
                .collect();
            assert!(
                asset_names().any(|a| a == name),
                "/app/{name} is not embedded"
            );
        }
        assert!(
            !SHELL.contains("style="),
            "inline style attribute in the shell"
        );
        assert!(
            !SHELL.contains("<style"),
            "inline style element in the shell"
        );
        for script in SHELL.split("<script").skip(1) {
            let tag = script.split('>').next().unwrap_or_default();
            assert!(tag.contains("src=\"/app/"), "inline script: <script{tag}>");
        }
    }

    #[test]
    fn no_asset_sets_inline_styles_or_evaluates_strings() {
        for a in ASSETS.iter().filter(|a| a.content_type == JS) {
            for banned in [
                "eval(",
                "new Function",
                ".innerHTML",
                "style.",
                "setAttribute('style'",
                "document.write",
            ] {
                assert!(!a.body.contains(banned), "{} uses {banned}", a.name);
            }
        }
    }
}

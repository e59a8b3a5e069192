//! Reading a JSON request body with our own limits and errors: over the configured size → 413,
//! not JSON → 400, both as problem+json (actix's own extractors answer in plain text), carrying
//! the request's id.

use actix_web::http::header;
use actix_web::{web, HttpRequest};
use futures_util::StreamExt;

use super::error::{ApiError, Code};

/// Reads the whole body as JSON, enforcing `limit` bytes.
///
/// # Errors
/// 413 `payload_too_large`, 415 `unsupported_media_type`, 400 `invalid_request_body`.
pub async fn read_json(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<serde_json::Value, ApiError> {
    read_json_with_text(req, payload, limit)
        .await
        .map(|(value, _)| value)
}

/// As [`read_json`], also returning the body text exactly as received (the audit snapshot).
///
/// # Errors
/// As [`read_json`].
pub async fn read_json_with_text(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<(serde_json::Value, String), ApiError> {
    read(req, payload, limit)
        .await
        .map_err(|e| e.with_request_id(super::request_id_of(req)))
}

/// [`read_json_with_text`] without the request id on its errors.
async fn read(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<(serde_json::Value, String), ApiError> {
    let too_large = || {
        ApiError::new(
            Code::PayloadTooLarge,
            format!("the body exceeds {limit} bytes"),
        )
    };
    if let Some(ct) = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    {
        let essence = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if essence != "application/json" && !essence.ends_with("+json") {
            return Err(ApiError::new(
                Code::UnsupportedMediaType,
                "send Content-Type: application/json",
            ));
        }
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk
            .map_err(|_| ApiError::new(Code::InvalidRequestBody, "the body could not be read"))?;
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    let value = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            Code::InvalidRequestBody,
            format!(
                "the body is not valid JSON (line {}, column {})",
                e.line(),
                e.column()
            ),
        )
    })?;
    // Valid JSON is valid UTF-8 (RFC 8259), so this conversion cannot fail after the parse.
    let text = String::from_utf8(body.to_vec())
        .map_err(|_| ApiError::new(Code::InvalidRequestBody, "the body is not UTF-8"))?;
    Ok((value, text))
}

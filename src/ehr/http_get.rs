//! The outbound HTTP GET both EHR-facing fetches share (allow-listed JWKS `jku` URLs, the EHR's
//! FHIR server): a body read up to a size cap, and a failure described by its kind only (a
//! reqwest message can carry the URL and its query, which for FHIR searches names the patient).

use std::time::Duration;

/// Reads the whole body, refusing more than `max_bytes` (announced or streamed).
///
/// # Errors
/// A readable reason: too large, or the body could not be read (within `timeout`).
pub(crate) async fn read_capped(
    mut response: reqwest::Response,
    max_bytes: usize,
    timeout: Duration,
) -> Result<Vec<u8>, String> {
    let too_large = || format!("the response is larger than {max_bytes} bytes");
    if response
        .content_length()
        .is_some_and(|n| n > max_bytes as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| describe(&e, timeout))? {
        if body.len() + chunk.len() > max_bytes {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A request failure in words, without the URL.
pub(crate) fn describe(e: &reqwest::Error, timeout: Duration) -> String {
    if e.is_timeout() {
        format!("no complete answer within {} ms", timeout.as_millis())
    } else if e.is_connect() {
        "cannot connect".to_string()
    } else if e.is_redirect() {
        "redirects are not followed".to_string()
    } else if e.is_body() || e.is_decode() {
        "the response body could not be read".to_string()
    } else {
        "the request failed".to_string()
    }
}

//! Reading a compact JWS before any key is chosen: the `Authorization` value, the three parts,
//! the JOSE header (RFC 7515 §4) and the claims as a JSON object, plus typed claim accessors
//! that name the claim they reject.
//!
//! Written here rather than through `jsonwebtoken::decode_header` because that parses `alg` into
//! its own enum: `none` or an unknown name becomes a JSON error, and CDS Hooks needs the
//! algorithm refused by name before anything else happens.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::error::JwtError;

/// Longest bearer token read (a CDS Hooks JWT is well under 2 KiB; actix caps headers too).
pub(crate) const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// Longest `jti` accepted (it is kept in the replay cache).
pub(crate) const MAX_JTI_LEN: usize = 256;

/// The JOSE header members this module reads. Others (x5t, cty, ...) are ignored and never
/// used to find a key: only `kid` (and an allow-listed `jku`) do.
#[derive(Debug, Deserialize)]
pub(crate) struct Header {
    pub alg: Option<String>,
    pub kid: Option<String>,
    pub typ: Option<String>,
    pub jku: Option<String>,
    pub crit: Option<Value>,
    pub b64: Option<Value>,
}

/// A token split and decoded, not verified.
pub(crate) struct Compact<'a> {
    /// The whole compact serialisation (for the signature check).
    pub token: &'a str,
    pub header: Header,
    pub claims: Map<String, Value>,
}

/// The token of a `Bearer` `Authorization` value (scheme case-insensitive, RFC 7235 §2.1).
pub(crate) fn bearer(authorization: Option<&str>) -> Result<&str, JwtError> {
    let value = authorization.ok_or(JwtError::Missing)?.trim();
    let (scheme, token) = value.split_once(' ').ok_or(JwtError::NotBearer)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(JwtError::NotBearer);
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(JwtError::NotBearer);
    }
    Ok(token)
}

/// Splits and decodes the header and claims; nothing is trusted yet.
pub(crate) fn split(token: &str) -> Result<Compact<'_>, JwtError> {
    let malformed = |reason| JwtError::Malformed { reason };
    if token.len() > MAX_TOKEN_BYTES {
        return Err(malformed("longer than 16384 bytes"));
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(_signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed("not three dot-separated parts (compact JWS)"));
    };
    let header = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| malformed("the header is not unpadded base64url"))?;
    let header: Header = serde_json::from_slice(&header)
        .map_err(|_| malformed("the header is not a JSON object with string alg, kid, typ, jku"))?;
    let payload = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| malformed("the payload is not unpadded base64url"))?;
    let claims: Map<String, Value> = serde_json::from_slice(&payload)
        .map_err(|_| malformed("the payload is not a JSON object"))?;
    Ok(Compact {
        token,
        header,
        claims,
    })
}

/// An algorithm name fit to echo: a short plain name, else `(unrecognised)`.
pub(crate) fn echo_alg(alg: &str) -> String {
    if !alg.is_empty()
        && alg.len() <= 16
        && alg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '+')
    {
        alg.to_string()
    } else {
        "(unrecognised)".to_string()
    }
}

/// A required string claim.
pub(crate) fn string<'a>(
    claims: &'a Map<String, Value>,
    claim: &'static str,
) -> Result<&'a str, JwtError> {
    optional_string(claims, claim)?.ok_or(JwtError::MissingClaim { claim })
}

/// An optional string claim (present but not a string is an error).
pub(crate) fn optional_string<'a>(
    claims: &'a Map<String, Value>,
    claim: &'static str,
) -> Result<Option<&'a str>, JwtError> {
    match claims.get(claim) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(JwtError::InvalidClaim {
            claim,
            expected: "a string",
        }),
    }
}

/// A NumericDate claim (RFC 7519 §2: seconds, possibly fractional; the fraction is dropped
/// toward the past, which only ever makes `exp` stricter and `iat`/`nbf` one second older).
pub(crate) fn optional_date(
    claims: &Map<String, Value>,
    claim: &'static str,
) -> Result<Option<i64>, JwtError> {
    let invalid = JwtError::InvalidClaim {
        claim,
        expected: "a NumericDate (seconds since 1970)",
    };
    match claims.get(claim) {
        None => Ok(None),
        Some(Value::Number(n)) => {
            if let Some(i) = n.as_i64() {
                return Ok(Some(i));
            }
            match n.as_f64() {
                // Within ±2^53 an f64 is an exact integer after floor; beyond, not a date.
                Some(f) if f.is_finite() && f.abs() < 9.0e15 => Ok(Some(f.floor() as i64)),
                _ => Err(invalid),
            }
        }
        Some(_) => Err(invalid),
    }
}

/// A required NumericDate claim.
pub(crate) fn date(claims: &Map<String, Value>, claim: &'static str) -> Result<i64, JwtError> {
    optional_date(claims, claim)?.ok_or(JwtError::MissingClaim { claim })
}

/// Whether `aud` (a string or an array of strings, RFC 7519 §4.1.3) contains `audience` exactly.
pub(crate) fn audience_contains(
    claims: &Map<String, Value>,
    audience: &str,
) -> Result<bool, JwtError> {
    let invalid = JwtError::InvalidClaim {
        claim: "aud",
        expected: "a string or an array of strings",
    };
    match claims.get("aud") {
        None => Err(JwtError::MissingClaim { claim: "aud" }),
        Some(Value::String(s)) => Ok(s == audience),
        Some(Value::Array(items)) => {
            let mut found = false;
            for item in items {
                let s = item.as_str().ok_or_else(|| invalid.clone())?;
                found |= s == audience;
            }
            Ok(found)
        }
        Some(_) => Err(invalid),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn b64(v: &Value) -> String {
        URL_SAFE_NO_PAD.encode(v.to_string())
    }

    #[test]
    fn bearer_takes_the_token_of_a_bearer_header_only() {
        assert_eq!(bearer(None), Err(JwtError::Missing));
        assert_eq!(bearer(Some("Basic abc")), Err(JwtError::NotBearer));
        assert_eq!(bearer(Some("Bearer")), Err(JwtError::NotBearer));
        assert_eq!(bearer(Some("Bearer   ")), Err(JwtError::NotBearer));
        assert_eq!(bearer(Some("bearer a.b.c")), Ok("a.b.c"));
        assert_eq!(bearer(Some("  Bearer  a.b.c ")), Ok("a.b.c"));
    }

    #[test]
    fn split_decodes_header_and_claims_and_names_what_is_malformed() {
        let token = format!(
            "{}.{}.sig",
            b64(&json!({"alg": "ES384", "kid": "k"})),
            b64(&json!({"iss": "a"}))
        );
        let c = split(&token).expect("well formed");
        assert_eq!(c.header.alg.as_deref(), Some("ES384"));
        assert_eq!(c.header.kid.as_deref(), Some("k"));
        assert_eq!(c.claims["iss"], "a");
        let h = b64(&json!({"alg": "ES384"}));
        let p = b64(&json!({}));
        for (t, needle) in [
            (format!("{h}.{p}"), "three"),
            (format!("{h}.{p}.s.x"), "three"),
            (format!("!!.{p}.s"), "header is not"),
            (
                format!("{}.{p}.s", URL_SAFE_NO_PAD.encode("[1]")),
                "header is not a JSON object",
            ),
            (format!("{}.{p}.s", b64(&json!({"alg": 5}))), "string alg"),
            (
                format!("{h}.{}.s", URL_SAFE_NO_PAD.encode("\"x\"")),
                "payload is not a JSON",
            ),
            ("x".repeat(MAX_TOKEN_BYTES + 1), "longer"),
        ] {
            match split(&t) {
                Err(JwtError::Malformed { reason }) => assert!(reason.contains(needle), "{reason}"),
                Err(other) => panic!("{t}: {other}"),
                Ok(_) => panic!("{t}: accepted"),
            }
        }
    }

    #[test]
    fn dates_accept_integers_and_fractions_and_refuse_the_rest() {
        let c = json!({"a": 10, "b": 10.9, "c": "10", "d": 1e300, "e": -5})
            .as_object()
            .cloned()
            .expect("object");
        assert_eq!(optional_date(&c, "a"), Ok(Some(10)));
        assert_eq!(optional_date(&c, "b"), Ok(Some(10)));
        assert!(matches!(
            optional_date(&c, "c"),
            Err(JwtError::InvalidClaim { claim: "c", .. })
        ));
        assert!(optional_date(&c, "d").is_err());
        assert_eq!(optional_date(&c, "e"), Ok(Some(-5)));
        assert_eq!(date(&c, "zz"), Err(JwtError::MissingClaim { claim: "zz" }));
    }

    #[test]
    fn aud_is_a_string_or_an_array_compared_exactly() {
        let url = "https://cds.example.org/cds-services/periop";
        let of = |v: Value| json!({ "aud": v }).as_object().cloned().expect("object");
        assert_eq!(audience_contains(&of(json!(url)), url), Ok(true));
        assert_eq!(
            audience_contains(&of(json!(format!("{url}/"))), url),
            Ok(false)
        );
        assert_eq!(audience_contains(&of(json!(["x", url])), url), Ok(true));
        assert_eq!(audience_contains(&of(json!(["x"])), url), Ok(false));
        assert!(audience_contains(&of(json!(["x", 1])), url).is_err());
        assert!(audience_contains(&of(json!(5)), url).is_err());
        assert_eq!(
            audience_contains(&Map::new(), url),
            Err(JwtError::MissingClaim { claim: "aud" })
        );
    }

    #[test]
    fn echoed_algorithm_names_are_short_and_plain() {
        assert_eq!(echo_alg("HS256"), "HS256");
        assert_eq!(echo_alg("none"), "none");
        assert_eq!(
            echo_alg("eyJhbGciOiJIUzI1NiJ9eyJhbGciOiJIUzI1NiJ9"),
            "(unrecognised)"
        );
        assert_eq!(echo_alg("a\"b"), "(unrecognised)");
        assert_eq!(echo_alg(""), "(unrecognised)");
    }
}

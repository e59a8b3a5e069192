//! A CDS client's JSON Web Key Set (RFC 7517) turned into verification keys by `kid`, and the
//! check that a key can verify a header's algorithm (kty, crv, alg, use, key_ops).
//!
//! The JWK members are read here rather than through `jsonwebtoken::jwk::Jwk` because this
//! module must say precisely what is wrong with a key (curve, coordinate length, RSA modulus
//! size, private members published by mistake), which that type's untagged parsing cannot;
//! `jsonwebtoken` still builds the [`DecodingKey`] and verifies.

use std::collections::HashMap;
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::DecodingKey;
use serde_json::{Map, Value};

/// The signature algorithms this module can accept (the policy narrows them further).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SigAlg {
    Es256,
    Es384,
    Rs256,
    Rs384,
}

impl SigAlg {
    /// The JOSE name (`alg` header value).
    pub(crate) fn name(self) -> &'static str {
        match self {
            SigAlg::Es256 => "ES256",
            SigAlg::Es384 => "ES384",
            SigAlg::Rs256 => "RS256",
            SigAlg::Rs384 => "RS384",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<SigAlg> {
        match name {
            "ES256" => Some(SigAlg::Es256),
            "ES384" => Some(SigAlg::Es384),
            "RS256" => Some(SigAlg::Rs256),
            "RS384" => Some(SigAlg::Rs384),
            _ => None,
        }
    }

    pub(crate) fn jsonwebtoken(self) -> jsonwebtoken::Algorithm {
        match self {
            SigAlg::Es256 => jsonwebtoken::Algorithm::ES256,
            SigAlg::Es384 => jsonwebtoken::Algorithm::ES384,
            SigAlg::Rs256 => jsonwebtoken::Algorithm::RS256,
            SigAlg::Rs384 => jsonwebtoken::Algorithm::RS384,
        }
    }

    fn key_kind(self) -> KeyKind {
        match self {
            SigAlg::Es256 => KeyKind::EcP256,
            SigAlg::Es384 => KeyKind::EcP384,
            SigAlg::Rs256 | SigAlg::Rs384 => KeyKind::Rsa,
        }
    }
}

/// What a usable key is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    EcP256,
    EcP384,
    Rsa,
}

impl KeyKind {
    fn describe(self) -> &'static str {
        match self {
            KeyKind::EcP256 => "an EC P-256 key",
            KeyKind::EcP384 => "an EC P-384 key",
            KeyKind::Rsa => "an RSA key",
        }
    }
}

/// A public key that can verify signatures.
pub(crate) struct PublicKey {
    kind: KeyKind,
    /// The JWK's own `alg`, when it has one.
    alg: Option<String>,
    key: DecodingKey,
}

impl PublicKey {
    /// Whether this key may verify `alg` (kty and curve agree; the JWK's `alg`, if any, is it).
    pub(crate) fn check_alg(&self, alg: SigAlg) -> Result<(), String> {
        if self.kind != alg.key_kind() {
            return Err(format!(
                "it is {}, {} needs {}",
                self.kind.describe(),
                alg.name(),
                alg.key_kind().describe()
            ));
        }
        if let Some(own) = &self.alg {
            if own != alg.name() {
                return Err(format!(
                    "the key's alg is {}, the header's is {}",
                    sanitize(own),
                    alg.name()
                ));
            }
        }
        Ok(())
    }

    pub(crate) fn decoding_key(&self) -> &DecodingKey {
        &self.key
    }
}

/// One `kid` of a key set: a usable key, or why it is not one.
pub(crate) type Entry = Result<Arc<PublicKey>, String>;

/// The keys of one JWKS by `kid`.
pub(crate) struct KeySet {
    keys: HashMap<String, Entry>,
}

/// The kids and whether each is usable (never key material).
impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut kids: Vec<(&String, bool)> =
            self.keys.iter().map(|(k, e)| (k, e.is_ok())).collect();
        kids.sort();
        f.debug_struct("KeySet")
            .field("kids_usable", &kids)
            .finish()
    }
}

/// Longest `kid` accepted (they are short identifiers in practice).
const MAX_KID_LEN: usize = 256;
/// Smallest RSA modulus accepted (NIST SP 800-131A; aws-lc refuses shorter ones anyway).
const MIN_RSA_BITS: usize = 2048;

impl KeySet {
    /// Parses a JWKS document. The document is refused as a whole when it is not a JWKS, when a
    /// key has no or a duplicate `kid`, malformed members, or private key material. A key that
    /// is well formed but cannot verify ES/RS signatures (another curve or kty, `use: enc`, too
    /// short) is kept with its reason, reported if a token names it; at least one key must be
    /// usable.
    pub(crate) fn parse(bytes: &[u8]) -> Result<KeySet, String> {
        let doc: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON ({e})"))?;
        let Some(list) = doc.get("keys").and_then(Value::as_array) else {
            return Err("not a JSON object with a keys array".to_string());
        };
        if list.is_empty() {
            return Err("the keys array is empty".to_string());
        }
        let mut keys = HashMap::new();
        let mut first_reason = None;
        for (i, jwk) in list.iter().enumerate() {
            let Some(jwk) = jwk.as_object() else {
                return Err(format!("key {i} is not a JSON object"));
            };
            let kid = match jwk.get("kid") {
                Some(Value::String(k)) if !k.is_empty() && k.len() <= MAX_KID_LEN => k.clone(),
                Some(Value::String(_)) => {
                    return Err(format!(
                        "key {i} has an empty kid or one longer than {MAX_KID_LEN} characters"
                    ))
                }
                _ => return Err(format!("key {i} has no kid (CDS Hooks requires one)")),
            };
            let entry = parse_key(jwk).map_err(|e| format!("key {}: {e}", sanitize(&kid)))?;
            if let Err(reason) = &entry {
                first_reason.get_or_insert_with(|| format!("key {}: {reason}", sanitize(&kid)));
            }
            if keys.insert(kid.clone(), entry).is_some() {
                return Err(format!("kid {} appears twice", sanitize(&kid)));
            }
        }
        if keys.values().all(Result::is_err) {
            return Err(format!(
                "no key can verify ES256/ES384/RS256/RS384 signatures ({})",
                first_reason.unwrap_or_default()
            ));
        }
        Ok(KeySet { keys })
    }

    pub(crate) fn get(&self, kid: &str) -> Option<&Entry> {
        self.keys.get(kid)
    }
}

/// Members that only a private key has (RFC 7518 §6.2.2, §6.3.2, §6.4.1).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// `Err` is a malformed key (the document is refused); `Ok(Err)` a well-formed unusable one.
fn parse_key(jwk: &Map<String, Value>) -> Result<Entry, String> {
    if let Some(member) = PRIVATE_MEMBERS.iter().find(|m| jwk.contains_key(**m)) {
        return Err(format!(
            "has the private (or secret) member {member}: publish public keys only"
        ));
    }
    let alg = match jwk.get("alg") {
        None => None,
        Some(Value::String(a)) => Some(a.clone()),
        Some(_) => return Err("alg is not a string".to_string()),
    };
    if let Some(usage) = jwk.get("use") {
        match usage.as_str() {
            Some("sig") => {}
            Some(other) => return Ok(Err(format!("use is {}, not sig", sanitize(other)))),
            None => return Err("use is not a string".to_string()),
        }
    }
    if let Some(ops) = jwk.get("key_ops") {
        let Some(ops) = ops.as_array() else {
            return Err("key_ops is not an array".to_string());
        };
        if !ops.iter().any(|op| op.as_str() == Some("verify")) {
            return Ok(Err("key_ops does not include verify".to_string()));
        }
    }
    let kty = string_member(jwk, "kty")?;
    let (kind, key) = match kty {
        "EC" => {
            let (kind, len) = match string_member(jwk, "crv")? {
                "P-256" => (KeyKind::EcP256, 32),
                "P-384" => (KeyKind::EcP384, 48),
                other => {
                    return Ok(Err(format!(
                        "curve {} is not P-256 or P-384",
                        sanitize(other)
                    )))
                }
            };
            let x = string_member(jwk, "x")?;
            let y = string_member(jwk, "y")?;
            for (name, value) in [("x", x), ("y", y)] {
                let bytes = b64(name, value)?;
                if bytes.len() != len {
                    return Err(format!(
                        "{name} is {} bytes, the curve needs {len}",
                        bytes.len()
                    ));
                }
            }
            let key = DecodingKey::from_ec_components(x, y)
                .map_err(|e| format!("not an EC public key ({e})"))?;
            (kind, key)
        }
        "RSA" => {
            let n = string_member(jwk, "n")?;
            let e = string_member(jwk, "e")?;
            let modulus = b64("n", n)?;
            let exponent = b64("e", e)?;
            if exponent.iter().all(|b| *b == 0) {
                return Err("e is zero".to_string());
            }
            let bits = modulus_bits(&modulus);
            if bits < MIN_RSA_BITS {
                return Ok(Err(format!(
                    "its RSA modulus has {bits} bits, fewer than {MIN_RSA_BITS}"
                )));
            }
            let key = DecodingKey::from_rsa_components(n, e)
                .map_err(|e| format!("not an RSA public key ({e})"))?;
            (KeyKind::Rsa, key)
        }
        other => return Ok(Err(format!("kty {} is not EC or RSA", sanitize(other)))),
    };
    Ok(Ok(Arc::new(PublicKey { kind, alg, key })))
}

fn string_member<'a>(jwk: &'a Map<String, Value>, name: &str) -> Result<&'a str, String> {
    match jwk.get(name) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(format!("{name} is not a string")),
        None => Err(format!("{name} is missing")),
    }
}

fn b64(name: &str, value: &str) -> Result<Vec<u8>, String> {
    URL_SAFE_NO_PAD
        .decode(value)
        .map_err(|_| format!("{name} is not unpadded base64url"))
}

/// The bit length of a big-endian unsigned integer.
fn modulus_bits(bytes: &[u8]) -> usize {
    let Some(first) = bytes.iter().position(|b| *b != 0) else {
        return 0;
    };
    (bytes.len() - first) * 8 - bytes[first].leading_zeros() as usize
}

/// A value from a JWKS or a header, fit for an error message: printable ASCII, at most 64
/// characters, quoted.
pub(crate) fn sanitize(value: &str) -> String {
    let clean: String = value
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect();
    if value.chars().count() > 64 {
        format!("{clean:?}…")
    } else {
        format!("{clean:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // The P-256 public key of RFC 7515 appendix A.3 (a published test vector, public only).
    const P256_X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
    const P256_Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";

    fn ec(kid: &str) -> Value {
        json!({"kty": "EC", "crv": "P-256", "kid": kid, "x": P256_X, "y": P256_Y})
    }

    fn parse(doc: Value) -> Result<KeySet, String> {
        KeySet::parse(doc.to_string().as_bytes())
    }

    #[test]
    fn an_ec_key_is_found_by_kid_and_only_verifies_its_algorithm() {
        let set = parse(json!({"keys": [ec("k1")]})).expect("valid JWKS");
        let key = set.get("k1").expect("kid").as_ref().expect("usable");
        key.check_alg(SigAlg::Es256).expect("P-256 verifies ES256");
        let err = key.check_alg(SigAlg::Es384).expect_err("not ES384");
        assert!(err.contains("P-384"), "{err}");
        assert!(key.check_alg(SigAlg::Rs384).is_err());
        assert!(set.get("k2").is_none());
    }

    #[test]
    fn a_key_alg_must_equal_the_header_alg() {
        let mut k = ec("k1");
        k["alg"] = json!("ES384");
        let set = parse(json!({"keys": [k]})).expect("valid");
        let key = set.get("k1").expect("kid").as_ref().expect("usable");
        let err = key.check_alg(SigAlg::Es256).expect_err("alg differs");
        assert!(err.contains("ES384"), "{err}");
    }

    #[test]
    fn malformed_documents_are_refused_with_the_reason() {
        for (doc, needle) in [
            (json!([]), "keys array"),
            (json!({"keys": []}), "empty"),
            (json!({"keys": [1]}), "key 0 is not a JSON object"),
            (json!({"keys": [{"kty": "EC"}]}), "no kid"),
            (json!({"keys": [ec("a"), ec("a")]}), "appears twice"),
            (
                json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "a", "x": "!!", "y": P256_Y}]}),
                "x is not",
            ),
            (
                json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "a", "x": "AAAA", "y": P256_Y}]}),
                "3 bytes",
            ),
            (
                json!({"keys": [{"kty": "RSA", "kid": "a", "e": "AQAB"}]}),
                "n is missing",
            ),
        ] {
            let err = parse(doc.clone())
                .err()
                .unwrap_or_else(|| panic!("accepted {doc}"));
            assert!(err.contains(needle), "{doc}: {err}");
        }
        assert!(KeySet::parse(b"not json").is_err());
    }

    #[test]
    fn private_members_refuse_the_document_without_echoing_them() {
        let mut k = ec("a");
        k["d"] = json!("c2VjcmV0LXByaXZhdGUtc2NhbGFy");
        let err = parse(json!({"keys": [k]})).expect_err("private key");
        assert!(err.contains("private") && err.contains(" d"), "{err}");
        assert!(!err.contains("c2VjcmV0"), "{err}");
        let err = parse(json!({"keys": [{"kty": "oct", "kid": "h", "k": "c2VjcmV0"}]}))
            .expect_err("symmetric key");
        assert!(err.contains("member k"), "{err}");
    }

    #[test]
    fn unusable_keys_are_kept_with_their_reason_but_one_key_must_be_usable() {
        let enc = json!({"kty": "EC", "crv": "P-256", "kid": "e", "use": "enc", "x": P256_X, "y": P256_Y});
        let okp = json!({"kty": "OKP", "crv": "Ed25519", "kid": "ed", "x": P256_X});
        let short = json!({"kty": "RSA", "kid": "r", "n": URL_SAFE_NO_PAD.encode([0xc5u8; 128]), "e": "AQAB"});
        let set = parse(json!({"keys": [ec("ok"), enc.clone(), okp.clone(), short.clone()]}))
            .expect("one usable key");
        let reason = |kid: &str| {
            set.get(kid)
                .expect("kid")
                .as_ref()
                .err()
                .cloned()
                .expect("unusable")
        };
        assert!(reason("e").contains("use"), "{}", reason("e"));
        assert!(reason("ed").contains("kty"), "{}", reason("ed"));
        assert!(reason("r").contains("1024 bits"), "{}", reason("r"));
        let err = parse(json!({"keys": [enc, okp, short]})).expect_err("nothing usable");
        assert!(err.contains("no key can verify"), "{err}");
    }

    #[test]
    fn modulus_bits_counts_from_the_first_set_bit() {
        assert_eq!(modulus_bits(&[0, 0x01, 0xff]), 9);
        assert_eq!(modulus_bits(&[0x80; 256]), 2048);
        assert_eq!(modulus_bits(&[0]), 0);
    }

    #[test]
    fn sanitize_bounds_and_cleans_echoed_values() {
        assert_eq!(sanitize("ES512"), "\"ES512\"");
        assert_eq!(sanitize("a\nb"), "\"a?b\"");
        assert!(sanitize(&"x".repeat(500)).len() < 80);
    }
}

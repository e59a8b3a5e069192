//! Test support for CDS Hooks client JWTs: an EHR that signs tokens with a key pair generated at
//! test time (no private key is ever committed), its public JWKS, hostile tokens (`alg: none`,
//! HS256 keyed with the public key), and a loopback JWKS server that counts its requests.
//!
//! Signing uses aws-lc-rs directly, not jsonwebtoken, so the verifier is tested against an
//! independent implementation. Include it with `#[path = "support/cds_jwt.rs"] mod cds_jwt;`.
#![allow(
    dead_code,
    reason = "a shared helper: each test binary uses a different part of it"
)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    EcdsaKeyPair, EcdsaSigningAlgorithm, KeyPair, RsaKeyPair, RsaPublicKeyComponents,
    ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, RSA_PKCS1_SHA256,
    RSA_PKCS1_SHA384,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Map, Value};

enum SigningKey {
    Ec(EcdsaKeyPair),
    Rsa(
        RsaKeyPair,
        &'static aws_lc_rs::signature::RsaSignatureEncoding,
    ),
}

/// An EHR signing key: ES384, ES256, RS384 or RS256, with its `kid`.
pub struct EhrSigner {
    kid: String,
    alg: &'static str,
    key: SigningKey,
    jwk: Value,
}

impl EhrSigner {
    /// A new P-384 key (ES384, the CDS Hooks recommendation).
    pub fn es384(kid: &str) -> EhrSigner {
        Self::ec(kid, "ES384", "P-384", &ECDSA_P384_SHA384_FIXED_SIGNING)
    }

    /// A new P-256 key (ES256).
    pub fn es256(kid: &str) -> EhrSigner {
        Self::ec(kid, "ES256", "P-256", &ECDSA_P256_SHA256_FIXED_SIGNING)
    }

    /// A new 2048-bit RSA key (RS384).
    pub fn rs384(kid: &str) -> EhrSigner {
        Self::rsa(kid, "RS384", &RSA_PKCS1_SHA384)
    }

    /// A new 2048-bit RSA key (RS256).
    pub fn rs256(kid: &str) -> EhrSigner {
        Self::rsa(kid, "RS256", &RSA_PKCS1_SHA256)
    }

    fn ec(
        kid: &str,
        alg: &'static str,
        crv: &str,
        signing: &'static EcdsaSigningAlgorithm,
    ) -> EhrSigner {
        let pair = EcdsaKeyPair::generate(signing).expect("EC key generation");
        let point = pair.public_key().as_ref();
        let half = (point.len() - 1) / 2;
        let jwk = json!({
            "kty": "EC", "crv": crv, "kid": kid, "alg": alg, "use": "sig",
            "x": b64(&point[1..=half]), "y": b64(&point[1 + half..]),
        });
        EhrSigner {
            kid: kid.to_string(),
            alg,
            key: SigningKey::Ec(pair),
            jwk,
        }
    }

    fn rsa(
        kid: &str,
        alg: &'static str,
        encoding: &'static aws_lc_rs::signature::RsaSignatureEncoding,
    ) -> EhrSigner {
        let pair = RsaKeyPair::generate(KeySize::Rsa2048).expect("RSA key generation");
        let public = RsaPublicKeyComponents::<Vec<u8>>::from(pair.public_key());
        let jwk = json!({
            "kty": "RSA", "kid": kid, "alg": alg, "use": "sig",
            "n": b64(&public.n), "e": b64(&public.e),
        });
        EhrSigner {
            kid: kid.to_string(),
            alg,
            key: SigningKey::Rsa(pair, encoding),
            jwk,
        }
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn alg(&self) -> &'static str {
        self.alg
    }

    /// The public JWK (kty, crv/x/y or n/e, kid, alg, use).
    pub fn jwk(&self) -> Value {
        self.jwk.clone()
    }

    /// The raw public key bytes (the EC point, or the RSA modulus): what an attacker would use
    /// as an HMAC secret in the algorithm-confusion attack.
    pub fn public_key_bytes(&self) -> Vec<u8> {
        match &self.key {
            SigningKey::Ec(pair) => pair.public_key().as_ref().to_vec(),
            SigningKey::Rsa(pair, _) => {
                RsaPublicKeyComponents::<Vec<u8>>::from(pair.public_key()).n
            }
        }
    }

    /// `{"keys": [this key]}`.
    pub fn jwks_json(&self) -> String {
        jwks_json(&[self])
    }

    /// The header and claims of a valid token: `alg`, `typ: JWT`, `kid`; `iss`, `aud`,
    /// `iat = now`, `exp = now + 300`, `jti`.
    pub fn parts(
        &self,
        iss: &str,
        aud: &str,
        jti: &str,
        now: i64,
    ) -> (Map<String, Value>, Map<String, Value>) {
        let header = object(json!({"alg": self.alg, "typ": "JWT", "kid": self.kid}));
        let claims = object(json!({
            "iss": iss, "aud": aud, "iat": now, "exp": now + 300, "jti": jti,
        }));
        (claims, header)
    }

    /// A valid token for `aud` (see [`EhrSigner::parts`]).
    pub fn token(&self, iss: &str, aud: &str, jti: &str, now: i64) -> String {
        self.token_with(iss, aud, jti, now, |_, _| {})
    }

    /// A token whose claims and header `edit` may change before signing.
    pub fn token_with(
        &self,
        iss: &str,
        aud: &str,
        jti: &str,
        now: i64,
        edit: impl FnOnce(&mut Map<String, Value>, &mut Map<String, Value>),
    ) -> String {
        let (mut claims, mut header) = self.parts(iss, aud, jti, now);
        edit(&mut claims, &mut header);
        self.sign(&Value::Object(header), &Value::Object(claims))
    }

    /// Signs any header and claims with this key (the header's `alg` is not consulted).
    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        let input = signing_input(header, claims);
        let rng = SystemRandom::new();
        let signature = match &self.key {
            SigningKey::Ec(pair) => pair
                .sign(&rng, input.as_bytes())
                .expect("ECDSA signing")
                .as_ref()
                .to_vec(),
            SigningKey::Rsa(pair, encoding) => {
                let mut out = vec![0; pair.public_modulus_len()];
                pair.sign(*encoding, &rng, input.as_bytes(), &mut out)
                    .expect("RSA signing");
                out
            }
        };
        format!("{input}.{}", b64(&signature))
    }
}

/// A JWKS of several signers' public keys.
pub fn jwks_json(signers: &[&EhrSigner]) -> String {
    json!({"keys": signers.iter().map(|s| s.jwk()).collect::<Vec<_>>()}).to_string()
}

/// An unsecured JWS (`alg: none`, empty signature).
pub fn unsigned_token(header: &Value, claims: &Value) -> String {
    format!("{}.", signing_input(header, claims))
}

/// An HS256 JWS keyed with `secret` (e.g. an EHR's public key bytes: the confusion attack).
pub fn hs256_token(secret: &[u8], header: &Value, claims: &Value) -> String {
    let input = signing_input(header, claims);
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    let tag = aws_lc_rs::hmac::sign(&key, input.as_bytes());
    format!("{input}.{}", b64(tag.as_ref()))
}

/// `Bearer <token>`.
pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn signing_input(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    )
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => unreachable!("json! object literal"),
    }
}

/// What the loopback JWKS server answers.
#[derive(Clone)]
pub enum JwksReply {
    /// 200 with this JSON body.
    Json(String),
    /// Reads the request and never answers (until the test process ends).
    Hang,
    /// 302 to this location.
    Redirect(String),
    /// 200 with a body of this many bytes (no Content-Length: chunked by closing).
    Big(usize),
}

/// A JWKS server on 127.0.0.1 that counts the requests it receives.
pub struct JwksServer {
    pub url: String,
    requests: Arc<AtomicUsize>,
    reply: Arc<Mutex<JwksReply>>,
}

impl JwksServer {
    /// Starts serving `reply` at `http://127.0.0.1:<port>/jwks.json`.
    pub fn start(reply: JwksReply) -> JwksServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let port = listener.local_addr().expect("local addr").port();
        let requests = Arc::new(AtomicUsize::new(0));
        let reply = Arc::new(Mutex::new(reply));
        let (count, current) = (Arc::clone(&requests), Arc::clone(&reply));
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (count, current) = (Arc::clone(&count), Arc::clone(&current));
                std::thread::spawn(move || serve(stream, &count, &current));
            }
        });
        JwksServer {
            url: format!("http://127.0.0.1:{port}/jwks.json"),
            requests,
            reply,
        }
    }

    /// How many requests have arrived so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// Changes what later requests get (e.g. a rotated key set).
    pub fn set_reply(&self, reply: JwksReply) {
        *self.reply.lock().expect("reply lock") = reply;
    }
}

fn serve(mut stream: TcpStream, count: &AtomicUsize, reply: &Mutex<JwksReply>) {
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("read timeout");
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    count.fetch_add(1, Ordering::SeqCst);
    let reply = reply.lock().expect("reply lock").clone();
    let response = match reply {
        JwksReply::Json(body) => format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
        JwksReply::Redirect(location) => format!(
            "HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .into_bytes(),
        JwksReply::Big(n) => {
            let mut r = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n".to_vec();
            r.extend(std::iter::repeat_n(b' ', n));
            r
        }
        JwksReply::Hang => {
            std::thread::sleep(Duration::from_secs(30));
            return;
        }
    };
    let _ = stream.write_all(&response);
}

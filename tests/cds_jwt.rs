//! CDS Hooks client JWT authentication end to end: real key pairs made at test time, tokens
//! minted by an independent signer, every rejection provoked, and `jku` JWKS served by a
//! loopback server that counts its requests (a refused jku is never fetched; a fetched one is
//! cached; a hanging one times out).

#[path = "support/cds_jwt.rs"]
mod cds_jwt;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use cds_jwt::{bearer, hs256_token, unsigned_token, EhrSigner, JwksReply, JwksServer};
use periop::ehr::jwt::{
    CdsAuthPolicy, CdsAuthenticator, CdsClient, CdsIssuer, JwtConfigError, JwtError,
};
use serde_json::{json, Value};

const ISS: &str = "https://ehr.example.org/fhir";
const AUD: &str = "https://cds.example.org/cds-services/periop-spine-risk";
const NOW: i64 = 1_800_000_000;

/// An authenticator whose one issuer (ISS) has `jwks` as its out-of-band JWKS file.
struct Fixture {
    auth: CdsAuthenticator,
    _dir: tempfile::TempDir,
}

fn write_jwks(dir: &tempfile::TempDir, name: &str, jwks: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, jwks).expect("write JWKS file");
    path
}

fn issuer(jwks_file: Option<PathBuf>, jku_allowed: Vec<String>) -> CdsIssuer {
    CdsIssuer {
        iss: ISS.to_string(),
        tenant: None,
        jwks_file,
        jku_allowed,
    }
}

fn fixture_with(jwks: &str, edit: impl FnOnce(&mut CdsAuthPolicy)) -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = write_jwks(&dir, "ehr.jwks.json", jwks);
    let mut policy = CdsAuthPolicy {
        issuers: vec![issuer(Some(path), Vec::new())],
        ..CdsAuthPolicy::default()
    };
    edit(&mut policy);
    Fixture {
        auth: CdsAuthenticator::new(policy).expect("valid policy"),
        _dir: dir,
    }
}

fn fixture(signer: &EhrSigner) -> Fixture {
    fixture_with(&signer.jwks_json(), |_| {})
}

impl Fixture {
    async fn verify(&self, token: &str) -> Result<CdsClient, JwtError> {
        self.verify_at(token, NOW).await
    }

    async fn verify_at(&self, token: &str, now: i64) -> Result<CdsClient, JwtError> {
        self.auth.verify(Some(&bearer(token)), AUD, now).await
    }

    /// The rejection of `token`, checking its message carries no token material.
    async fn reject(&self, token: &str) -> JwtError {
        let err = self
            .verify(token)
            .await
            .expect_err("the token must be refused");
        no_token_material(&err, token);
        err
    }
}

fn no_token_material(err: &JwtError, token: &str) {
    let message = err.to_string();
    for part in token.split('.').filter(|p| p.len() >= 8) {
        assert!(
            !message.contains(part),
            "{message:?} contains part of the token"
        );
    }
    assert!(!err.code().is_empty());
}

fn edit_header(token_header: &mut serde_json::Map<String, Value>, key: &str, value: Value) {
    token_header.insert(key.to_string(), value);
}

#[tokio::test]
async fn a_valid_es384_token_is_accepted_and_names_the_client() {
    let ehr = EhrSigner::es384("ehr-2026");
    let f = fixture(&ehr);
    let token = ehr.token_with(ISS, AUD, "jti-1", NOW, |claims, _| {
        claims.insert("sub".into(), json!("cds-client-7"));
        claims.insert("tenant".into(), json!("hospital-a"));
    });
    let client = f.verify(&token).await.expect("valid ES384 token");
    assert_eq!(
        client,
        CdsClient {
            iss: ISS.to_string(),
            sub: Some("cds-client-7".to_string()),
            tenant: Some("hospital-a".to_string()),
            jti: "jti-1".to_string(),
            kid: "ehr-2026".to_string(),
        }
    );
}

#[tokio::test]
async fn a_valid_rs384_token_is_accepted() {
    let ehr = EhrSigner::rs384("rsa-1");
    let f = fixture(&ehr);
    let client = f
        .verify(&ehr.token(ISS, AUD, "jti-rsa", NOW))
        .await
        .expect("valid RS384 token");
    assert_eq!((client.kid.as_str(), client.sub), ("rsa-1", None));
}

#[tokio::test]
async fn es256_and_rs256_are_refused_unless_allowed() {
    let es = EhrSigner::es256("es");
    let rs = EhrSigner::rs256("rs");
    let jwks = cds_jwt::jwks_json(&[&es, &rs]);
    let strict = fixture_with(&jwks, |_| {});
    for signer in [&es, &rs] {
        let err = strict.reject(&signer.token(ISS, AUD, "j", NOW)).await;
        assert_eq!(
            err,
            JwtError::AlgorithmNotAllowed {
                alg: signer.alg().to_string(),
                accepted: "ES384, RS384",
            }
        );
        assert_eq!(err.code(), "algorithm_not_allowed");
    }
    let lenient = fixture_with(&jwks, |p| p.allow_es256_rs256 = true);
    lenient
        .verify(&es.token(ISS, AUD, "j-es", NOW))
        .await
        .expect("ES256 allowed");
    lenient
        .verify(&rs.token(ISS, AUD, "j-rs", NOW))
        .await
        .expect("RS256 allowed");
}

#[tokio::test]
async fn alg_none_is_refused_before_any_key_or_issuer_lookup() {
    let ehr = EhrSigner::es384("k");
    let f = fixture(&ehr);
    // Unknown issuer and kid: the algorithm is refused first all the same.
    let token = unsigned_token(
        &json!({"alg": "none", "kid": "no-such-kid"}),
        &json!({"iss": "https://attacker.example", "aud": AUD, "iat": NOW, "exp": NOW + 60, "jti": "n"}),
    );
    let err = f.reject(&token).await;
    assert!(
        matches!(&err, JwtError::AlgorithmNotAllowed { alg, .. } if alg == "none"),
        "{err:?}"
    );
    let (claims, _) = ehr.parts(ISS, AUD, "n2", NOW);
    let no_alg = unsigned_token(&json!({"kid": "k"}), &Value::Object(claims));
    assert!(matches!(
        f.reject(&no_alg).await,
        JwtError::AlgorithmNotAllowed { .. }
    ));
}

#[tokio::test]
async fn hs256_keyed_with_the_public_key_is_refused_the_confusion_attack() {
    for ehr in [EhrSigner::es384("k"), EhrSigner::rs384("k")] {
        let f = fixture(&ehr);
        let (claims, mut header) = ehr.parts(ISS, AUD, "hs", NOW);
        edit_header(&mut header, "alg", json!("HS256"));
        let claims = Value::Object(claims);
        let header = Value::Object(header);
        for secret in [ehr.public_key_bytes(), ehr.jwks_json().into_bytes()] {
            let token = hs256_token(&secret, &header, &claims);
            let err = f.reject(&token).await;
            assert!(
                matches!(&err, JwtError::AlgorithmNotAllowed { alg, .. } if alg == "HS256"),
                "{err:?}"
            );
        }
    }
}

#[tokio::test]
async fn ps_eddsa_and_unknown_algorithms_are_refused_by_name() {
    let ehr = EhrSigner::rs384("k");
    let f = fixture(&ehr);
    for (alg, echoed) in [
        ("PS384", "PS384"),
        ("EdDSA", "EdDSA"),
        ("RS512", "RS512"),
        ("HS384", "HS384"),
        ("es384", "es384"),
        ("ES384\"},{\"x", "(unrecognised)"),
    ] {
        let token = ehr.token_with(ISS, AUD, "a", NOW, |_, h| edit_header(h, "alg", json!(alg)));
        let err = f.reject(&token).await;
        assert_eq!(
            err,
            JwtError::AlgorithmNotAllowed {
                alg: echoed.to_string(),
                accepted: "ES384, RS384"
            },
            "{alg}"
        );
    }
}

#[tokio::test]
async fn header_rules_kid_typ_and_crit() {
    let ehr = EhrSigner::es384("k");
    let f = fixture(&ehr);
    let no_kid = ehr.token_with(ISS, AUD, "a", NOW, |_, h| {
        h.remove("kid");
    });
    assert_eq!(f.reject(&no_kid).await, JwtError::MissingKid);
    let empty_kid = ehr.token_with(ISS, AUD, "a", NOW, |_, h| edit_header(h, "kid", json!("")));
    assert_eq!(f.reject(&empty_kid).await, JwtError::MissingKid);
    let typ = ehr.token_with(ISS, AUD, "a", NOW, |_, h| {
        edit_header(h, "typ", json!("at+jwt"))
    });
    assert_eq!(f.reject(&typ).await, JwtError::WrongType);
    let crit = ehr.token_with(ISS, AUD, "a", NOW, |_, h| {
        edit_header(h, "crit", json!(["exp"]))
    });
    assert_eq!(f.reject(&crit).await, JwtError::UnsupportedExtension);
    let no_typ = ehr.token_with(ISS, AUD, "typ-absent", NOW, |_, h| {
        h.remove("typ");
    });
    f.verify(&no_typ).await.expect("typ is optional");
}

#[tokio::test]
async fn unknown_kid_and_unknown_issuer_are_refused() {
    let ehr = EhrSigner::es384("k");
    let f = fixture(&ehr);
    let other_kid = ehr.token_with(ISS, AUD, "a", NOW, |_, h| {
        edit_header(h, "kid", json!("k2"))
    });
    assert_eq!(f.reject(&other_kid).await, JwtError::UnknownKid);
    let stranger = ehr.token("https://other-ehr.example.org", AUD, "a", NOW);
    let err = f.reject(&stranger).await;
    assert_eq!(
        (err.clone(), err.code()),
        (JwtError::UnknownIssuer, "issuer_unknown")
    );
    let no_iss = ehr.token_with(ISS, AUD, "a", NOW, |c, _| {
        c.remove("iss");
    });
    assert_eq!(
        f.reject(&no_iss).await,
        JwtError::MissingClaim { claim: "iss" }
    );
}

#[tokio::test]
async fn a_tampered_payload_or_another_key_fails_the_signature() {
    let ehr = EhrSigner::es384("k");
    let f = fixture(&ehr);
    let token = ehr.token(ISS, AUD, "t", NOW);
    let parts: Vec<&str> = token.split('.').collect();
    let (forged, _) = ehr.parts(ISS, AUD, "t", NOW);
    let mut forged = forged;
    forged.insert("sub".into(), json!("admin"));
    let forged_payload = base64_url(&Value::Object(forged).to_string());
    let tampered = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
    assert_eq!(f.reject(&tampered).await, JwtError::BadSignature);
    // Same kid, another key (an attacker's P-384 key).
    let impostor = EhrSigner::es384("k");
    assert_eq!(
        f.reject(&impostor.token(ISS, AUD, "t2", NOW)).await,
        JwtError::BadSignature
    );
    let bad_b64 = format!("{}.{}.@@@", parts[0], parts[1]);
    assert!(matches!(
        f.reject(&bad_b64).await,
        JwtError::Malformed { .. }
    ));
    // The original still verifies.
    f.verify(&token).await.expect("untouched token");
}

#[tokio::test]
async fn a_key_of_another_kind_than_the_header_alg_is_a_mismatch() {
    // A P-256 key under kid "k"; the token says ES384.
    let p256 = EhrSigner::es256("k");
    let f = fixture(&p256);
    let token = p256.token_with(ISS, AUD, "m", NOW, |_, h| {
        edit_header(h, "alg", json!("ES384"))
    });
    let err = f.reject(&token).await;
    assert!(
        matches!(&err, JwtError::KeyMismatch { reason } if reason.contains("P-384")),
        "{err:?}"
    );
    // An RSA key with a JWK alg of RS256 cannot verify RS384.
    let rsa = EhrSigner::rs384("r");
    let mut jwk = rsa.jwk();
    jwk["alg"] = json!("RS256");
    let f = fixture_with(&json!({"keys": [jwk]}).to_string(), |_| {});
    let err = f.reject(&rsa.token(ISS, AUD, "m2", NOW)).await;
    assert!(
        matches!(&err, JwtError::KeyMismatch { reason } if reason.contains("RS256")),
        "{err:?}"
    );
}

#[tokio::test]
async fn aud_must_contain_the_configured_url_exactly() {
    let ehr = EhrSigner::es384("k");
    let f = fixture(&ehr);
    let other = ehr.token(ISS, "https://cds.example.org/cds-services/other", "a1", NOW);
    assert_eq!(f.reject(&other).await, JwtError::WrongAudience);
    let slash = ehr.token(ISS, &format!("{AUD}/"), "a2", NOW);
    assert_eq!(f.reject(&slash).await, JwtError::WrongAudience);
    let array = ehr.token_with(ISS, AUD, "a3", NOW, |c, _| {
        c.insert("aud".into(), json!(["https://other.example", AUD]));
    });
    f.verify(&array).await.expect("aud array with the URL");
    let array_without = ehr.token_with(ISS, AUD, "a4", NOW, |c, _| {
        c.insert("aud".into(), json!(["https://other.example"]));
    });
    assert_eq!(f.reject(&array_without).await, JwtError::WrongAudience);
    let no_aud = ehr.token_with(ISS, AUD, "a5", NOW, |c, _| {
        c.remove("aud");
    });
    assert_eq!(
        f.reject(&no_aud).await,
        JwtError::MissingClaim { claim: "aud" }
    );
}

#[tokio::test]
async fn exp_iat_and_nbf_are_checked_with_the_leeway() {
    let ehr = EhrSigner::es384("k");
    let f = fixture(&ehr);
    let set = |jti: &str, claim: &'static str, value: i64| {
        ehr.token_with(ISS, AUD, jti, NOW, |c, _| {
            c.insert(claim.into(), json!(value));
        })
    };
    assert_eq!(
        f.reject(&set("e1", "exp", NOW - 61)).await,
        JwtError::Expired { leeway_seconds: 60 }
    );
    f.verify(&set("e2", "exp", NOW - 30))
        .await
        .expect("expired within the leeway");
    assert_eq!(
        f.reject(&set("i1", "iat", NOW + 61)).await,
        JwtError::IssuedInFuture { leeway_seconds: 60 }
    );
    f.verify(&set("i2", "iat", NOW + 30))
        .await
        .expect("iat ahead within the leeway");
    assert_eq!(
        f.reject(&set("o1", "iat", NOW - 361)).await,
        JwtError::TooOld {
            max_age_seconds: 300,
            leeway_seconds: 60
        }
    );
    f.verify(&set("o2", "iat", NOW - 350))
        .await
        .expect("old within max age plus leeway");
    assert_eq!(
        f.reject(&set("n1", "nbf", NOW + 61)).await,
        JwtError::NotYetValid { leeway_seconds: 60 }
    );
    let string_exp = ehr.token_with(ISS, AUD, "s", NOW, |c, _| {
        c.insert("exp".into(), json!("tomorrow"));
    });
    assert!(matches!(
        f.reject(&string_exp).await,
        JwtError::InvalidClaim { claim: "exp", .. }
    ));
}

#[tokio::test]
async fn exp_iat_and_jti_are_required() {
    let ehr = EhrSigner::es384("k");
    let f = fixture(&ehr);
    for claim in ["exp", "iat", "jti"] {
        let token = ehr.token_with(ISS, AUD, "r", NOW, |c, _| {
            c.remove(claim);
        });
        let err = f.reject(&token).await;
        assert_eq!(err, JwtError::MissingClaim { claim }, "{claim}");
        assert_eq!(err.code(), "claim_missing");
        assert!(err.to_string().contains(claim), "{err}");
    }
    let long = ehr.token(ISS, AUD, &"j".repeat(257), NOW);
    assert!(matches!(
        f.reject(&long).await,
        JwtError::InvalidClaim { claim: "jti", .. }
    ));
}

#[tokio::test]
async fn a_replayed_jti_is_refused_and_a_new_one_is_accepted() {
    let ehr = EhrSigner::es384("k");
    let f = fixture(&ehr);
    let token = ehr.token(ISS, AUD, "once", NOW);
    f.verify(&token).await.expect("first use");
    let err = f.verify_at(&token, NOW + 10).await.expect_err("second use");
    assert_eq!(
        (err.clone(), err.code()),
        (JwtError::Replayed, "token_replayed")
    );
    // Another token carrying the same jti is the same replay.
    let again = ehr.token(ISS, AUD, "once", NOW + 20);
    assert_eq!(f.verify_at(&again, NOW + 20).await, Err(JwtError::Replayed));
    f.verify_at(&ehr.token(ISS, AUD, "twice", NOW + 20), NOW + 20)
        .await
        .expect("a fresh jti");
}

#[tokio::test]
async fn a_full_replay_cache_refuses_new_tokens_with_its_own_error() {
    let ehr = EhrSigner::es384("k");
    let f = fixture_with(&ehr.jwks_json(), |p| p.replay_cache_capacity = 2);
    f.verify(&ehr.token(ISS, AUD, "1", NOW)).await.expect("1");
    f.verify(&ehr.token(ISS, AUD, "2", NOW)).await.expect("2");
    let err = f.reject(&ehr.token(ISS, AUD, "3", NOW)).await;
    assert_eq!(err, JwtError::ReplayCacheFull { capacity: 2 });
    assert_eq!(err.code(), "replay_cache_full");
    // Once the first two could no longer be accepted (iat + 300 + 60), they are pruned.
    let later = NOW + 361;
    f.verify_at(&ehr.token(ISS, AUD, "3", later), later)
        .await
        .expect("room again after expiry");
}

#[tokio::test]
async fn the_tenant_must_match_and_picks_the_entry_when_one_iss_has_several() {
    let a = EhrSigner::es384("a");
    let b = EhrSigner::es384("b");
    let dir = tempfile::tempdir().expect("temp dir");
    let entry = |tenant: &str, file: &str, signer: &EhrSigner| CdsIssuer {
        tenant: Some(tenant.to_string()),
        ..issuer(
            Some(write_jwks(&dir, file, &signer.jwks_json())),
            Vec::new(),
        )
    };
    let auth = CdsAuthenticator::new(CdsAuthPolicy {
        issuers: vec![
            entry("hospital-a", "a.json", &a),
            entry("hospital-b", "b.json", &b),
        ],
        ..CdsAuthPolicy::default()
    })
    .expect("policy");
    let with_tenant = |signer: &EhrSigner, jti: &str, tenant: Option<&str>| {
        signer.token_with(ISS, AUD, jti, NOW, |c, _| {
            if let Some(t) = tenant {
                c.insert("tenant".into(), json!(t));
            }
        })
    };
    let auth = &auth;
    let verify =
        move |token: String| async move { auth.verify(Some(&bearer(&token)), AUD, NOW).await };
    let ok = verify(with_tenant(&a, "1", Some("hospital-a")))
        .await
        .expect("tenant a with key a");
    assert_eq!(ok.tenant.as_deref(), Some("hospital-a"));
    verify(with_tenant(&b, "2", Some("hospital-b")))
        .await
        .expect("tenant b with key b");
    // Key a is not hospital b's key.
    assert_eq!(
        verify(with_tenant(&a, "3", Some("hospital-b"))).await,
        Err(JwtError::UnknownKid)
    );
    assert_eq!(
        verify(with_tenant(&a, "4", Some("hospital-c"))).await,
        Err(JwtError::TenantMismatch)
    );
    assert_eq!(
        verify(with_tenant(&a, "5", None)).await,
        Err(JwtError::MissingClaim { claim: "tenant" })
    );

    // One entry with a tenant: the claim is checked after the signature.
    let single = fixture_with(&a.jwks_json(), |p| {
        p.issuers[0].tenant = Some("hospital-a".into());
    });
    assert_eq!(
        single
            .reject(&with_tenant(&a, "6", Some("hospital-b")))
            .await,
        JwtError::TenantMismatch
    );
    assert_eq!(
        single.reject(&with_tenant(&a, "7", None)).await,
        JwtError::MissingClaim { claim: "tenant" }
    );
    single
        .verify(&with_tenant(&a, "8", Some("hospital-a")))
        .await
        .expect("the right tenant");
}

#[tokio::test]
async fn the_authorization_header_must_be_a_bearer_jwt() {
    let ehr = EhrSigner::es384("k");
    let f = fixture(&ehr);
    assert_eq!(f.auth.verify(None, AUD, NOW).await, Err(JwtError::Missing));
    let token = ehr.token(ISS, AUD, "b", NOW);
    assert_eq!(
        f.auth
            .verify(Some(&format!("Basic {token}")), AUD, NOW)
            .await,
        Err(JwtError::NotBearer)
    );
    assert_eq!(
        f.auth.verify(Some(&token), AUD, NOW).await,
        Err(JwtError::NotBearer)
    );
    assert!(matches!(
        f.auth.verify(Some("Bearer not-a-jwt"), AUD, NOW).await,
        Err(JwtError::Malformed { .. })
    ));
    f.auth
        .verify(Some(&format!("bearer {token}")), AUD, NOW)
        .await
        .expect("the scheme is case-insensitive");
}

// ---- jku ----

fn jku_fixture(server_url: &str, file: Option<&EhrSigner>) -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let jwks_file = file.map(|s| write_jwks(&dir, "ehr.jwks.json", &s.jwks_json()));
    let policy = CdsAuthPolicy {
        issuers: vec![issuer(jwks_file, vec![server_url.to_string()])],
        ..CdsAuthPolicy::default()
    };
    Fixture {
        auth: CdsAuthenticator::new(policy).expect("policy"),
        _dir: dir,
    }
}

fn with_jku(signer: &EhrSigner, jti: &str, jku: &str, now: i64) -> String {
    signer.token_with(ISS, AUD, jti, now, |_, h| edit_header(h, "jku", json!(jku)))
}

#[tokio::test]
async fn a_jku_that_is_not_allow_listed_is_never_fetched() {
    let ehr = EhrSigner::es384("k");
    let allowed = JwksServer::start(JwksReply::Json(ehr.jwks_json()));
    let attacker = JwksServer::start(JwksReply::Json(ehr.jwks_json()));
    let f = jku_fixture(&allowed.url, Some(&ehr));
    for jku in [
        attacker.url.clone(),
        format!("{}?x=1", allowed.url),
        allowed.url.replace("127.0.0.1", "localhost"),
    ] {
        let err = f.reject(&with_jku(&ehr, "j", &jku, NOW)).await;
        assert_eq!(err, JwtError::JkuNotAllowed, "{jku}");
    }
    assert_eq!(
        attacker.requests(),
        0,
        "the attacker's server was contacted"
    );
    assert_eq!(allowed.requests(), 0);
}

#[tokio::test]
async fn a_jku_allowed_for_another_issuer_only_is_not_fetched() {
    let ehr = EhrSigner::es384("k");
    let mine = JwksServer::start(JwksReply::Json(ehr.jwks_json()));
    let theirs = JwksServer::start(JwksReply::Json(ehr.jwks_json()));
    let auth = CdsAuthenticator::new(CdsAuthPolicy {
        issuers: vec![
            issuer(None, vec![mine.url.clone()]),
            CdsIssuer {
                iss: "https://other-ehr.example.org".to_string(),
                ..issuer(None, vec![theirs.url.clone()])
            },
        ],
        ..CdsAuthPolicy::default()
    })
    .expect("policy");
    let token = with_jku(&ehr, "1", &theirs.url, NOW);
    assert_eq!(
        auth.verify(Some(&bearer(&token)), AUD, NOW).await,
        Err(JwtError::JkuNotAllowed)
    );
    assert_eq!((mine.requests(), theirs.requests()), (0, 0));
    let token = with_jku(&ehr, "2", &mine.url, NOW);
    auth.verify(Some(&bearer(&token)), AUD, NOW)
        .await
        .expect("its own jku");
    assert_eq!((mine.requests(), theirs.requests()), (1, 0));
}

#[tokio::test]
async fn an_allow_listed_jku_is_fetched_once_and_cached() {
    let ehr = EhrSigner::es384("k");
    let server = JwksServer::start(JwksReply::Json(ehr.jwks_json()));
    let f = jku_fixture(&server.url, None);
    f.verify(&with_jku(&ehr, "1", &server.url, NOW))
        .await
        .expect("key from the jku");
    assert_eq!(server.requests(), 1);
    f.verify_at(&with_jku(&ehr, "2", &server.url, NOW + 100), NOW + 100)
        .await
        .expect("cached key");
    assert_eq!(server.requests(), 1, "the second verify fetched again");
    // After the cache time (300 s) the JWKS is fetched again.
    f.verify_at(&with_jku(&ehr, "3", &server.url, NOW + 301), NOW + 301)
        .await
        .expect("refetched key");
    assert_eq!(server.requests(), 2);
    // A token without jku uses the out-of-band JWKS, and this issuer has none.
    assert_eq!(
        f.reject(&ehr.token(ISS, AUD, "4", NOW)).await,
        JwtError::JkuRequired
    );
}

#[tokio::test]
async fn an_unknown_kid_refetches_a_jku_at_most_once_a_minute() {
    let old = EhrSigner::es384("old");
    let rotated = EhrSigner::es384("new");
    let server = JwksServer::start(JwksReply::Json(old.jwks_json()));
    let f = jku_fixture(&server.url, None);
    f.verify(&with_jku(&old, "1", &server.url, NOW))
        .await
        .expect("old key");
    assert_eq!(server.requests(), 1);
    // The EHR rotates its key; within a minute of the last fetch the cache is not refetched.
    server.set_reply(JwksReply::Json(cds_jwt::jwks_json(&[&old, &rotated])));
    let t = NOW + 30;
    assert_eq!(
        f.verify_at(&with_jku(&rotated, "2", &server.url, t), t)
            .await,
        Err(JwtError::UnknownKid)
    );
    assert_eq!(server.requests(), 1);
    // A minute later one refetch finds it.
    let t = NOW + 61;
    f.verify_at(&with_jku(&rotated, "3", &server.url, t), t)
        .await
        .expect("rotated key after one refetch");
    assert_eq!(server.requests(), 2);
    // Random kids cannot make it fetch again within the minute.
    for (i, kid) in ["x1", "x2", "x3"].iter().enumerate() {
        let t = NOW + 70 + i as i64;
        let token = rotated.token_with(ISS, AUD, kid, t, |_, h| {
            edit_header(h, "jku", json!(server.url));
            edit_header(h, "kid", json!(kid));
        });
        assert_eq!(f.verify_at(&token, t).await, Err(JwtError::UnknownKid));
    }
    assert_eq!(server.requests(), 2);
}

#[tokio::test]
async fn a_hanging_jku_server_times_out_as_jwks_unavailable() {
    let ehr = EhrSigner::es384("k");
    let server = JwksServer::start(JwksReply::Hang);
    let f = jku_fixture(&server.url, None);
    let started = Instant::now();
    let err = f.reject(&with_jku(&ehr, "1", &server.url, NOW)).await;
    let elapsed = started.elapsed();
    assert!(
        matches!(&err, JwtError::JwksUnavailable { reason } if reason.contains("within 2000 ms")),
        "{err:?}"
    );
    assert_eq!(err.code(), "jwks_unavailable");
    assert!(
        elapsed >= Duration::from_millis(1500) && elapsed < Duration::from_secs(3),
        "timed out after {elapsed:?}"
    );
    assert_eq!(server.requests(), 1);
    // Right after a failure, requests fail at once without another fetch.
    let started = Instant::now();
    assert!(matches!(
        f.reject(&with_jku(&ehr, "2", &server.url, NOW + 1)).await,
        JwtError::JwksUnavailable { .. }
    ));
    assert!(started.elapsed() < Duration::from_millis(500));
    assert_eq!(server.requests(), 1);
}

#[tokio::test]
async fn a_jku_redirect_is_not_followed_and_an_oversized_jwks_is_refused() {
    let ehr = EhrSigner::es384("k");
    let target = JwksServer::start(JwksReply::Json(ehr.jwks_json()));
    let redirect = JwksServer::start(JwksReply::Redirect(target.url.clone()));
    let f = jku_fixture(&redirect.url, None);
    let err = f.reject(&with_jku(&ehr, "1", &redirect.url, NOW)).await;
    assert!(
        matches!(&err, JwtError::JwksUnavailable { reason } if reason.contains("302")),
        "{err:?}"
    );
    assert_eq!((redirect.requests(), target.requests()), (1, 0));

    let big = JwksServer::start(JwksReply::Big(70 * 1024));
    let f = jku_fixture(&big.url, None);
    let err = f.reject(&with_jku(&ehr, "2", &big.url, NOW)).await;
    assert!(
        matches!(&err, JwtError::JwksUnavailable { reason } if reason.contains("larger than 65536")),
        "{err:?}"
    );

    let junk = JwksServer::start(JwksReply::Json("{\"keys\": 5}".to_string()));
    let f = jku_fixture(&junk.url, None);
    let err = f.reject(&with_jku(&ehr, "3", &junk.url, NOW)).await;
    assert!(
        matches!(&err, JwtError::JwksUnavailable { reason } if reason.contains("keys array")),
        "{err:?}"
    );
}

// ---- configuration ----

#[test]
fn a_bad_jwks_file_is_an_error_naming_the_file_and_the_problem() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ehr = EhrSigner::es384("k");
    let build = |path: PathBuf| {
        CdsAuthenticator::new(CdsAuthPolicy {
            issuers: vec![issuer(Some(path), Vec::new())],
            ..CdsAuthPolicy::default()
        })
    };
    let missing = dir.path().join("absent.json");
    let Err(err) = build(missing) else {
        panic!("a missing file was accepted")
    };
    assert!(matches!(err, JwtConfigError::JwksFileRead { .. }), "{err}");
    assert!(err.to_string().contains("absent.json"), "{err}");

    let not_json = write_jwks(&dir, "broken.json", "{\"keys\": [");
    let Err(err) = build(not_json) else {
        panic!("broken JSON was accepted")
    };
    assert!(
        err.to_string().contains("broken.json") && err.to_string().contains("not JSON"),
        "{err}"
    );

    let mut private = ehr.jwk();
    private["d"] = json!("bm90LWEtcmVhbC1zY2FsYXI");
    let with_private = write_jwks(
        &dir,
        "private.json",
        &json!({"keys": [private]}).to_string(),
    );
    let Err(err) = build(with_private) else {
        panic!("a private key was accepted")
    };
    assert!(
        err.to_string().contains("private.json") && err.to_string().contains("private"),
        "{err}"
    );
    assert!(
        !err.to_string().contains("bm90LWEtcmVhbC1zY2FsYXI"),
        "{err}"
    );

    let Err(err) = CdsAuthenticator::new(CdsAuthPolicy {
        issuers: vec![issuer(None, Vec::new())],
        ..CdsAuthPolicy::default()
    }) else {
        panic!("an issuer without keys was accepted")
    };
    assert!(err.to_string().contains(ISS), "{err}");
}

fn base64_url(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

//! Subscriber tokens: `token::read_kid` and `token::verify` against a fixed
//! HS256 secret and a fixed ES256 public key, and `mint` → `verify` round
//! trips of structured claims.
//!
//! The first byte picks the mode (`'0'`, `'1'`, `'2'` in the seed corpus):
//! - 0: the rest is the token text;
//! - 1: the rest is `header JSON \n claims JSON`, encoded and signed with
//!   the HS256 secret, so that claims parsing is reached past the signature;
//! - 2: the rest is read as structured claims, minted, then verified.
//!
//! Neither function may panic, and a token that verifies must satisfy the
//! claims rules the stream relies on.

#![no_main]

use std::sync::LazyLock;

use arbitrary::{Arbitrary, Unstructured};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use herald_core::claims::{HeraldClaims, Subscriber, SubscriberClaims};
use herald_core::keys::SigningAlg;
use herald_core::limits;
use herald_core::names::UserId;
use herald_core::pattern::ChannelPattern;
use herald_core::token::{KeyMaterial, SigningMaterial, TokenError, VerifyingKey, mint, read_kid, verify};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};

/// The verifier's clock, fixed so that a crash reproduces.
const NOW: i64 = 1_700_000_000;
const SECRET: &str = "herald-fuzz-hs256-secret";
const ES256_PRIVATE: &str = include_str!("../../tests/e2e/fixtures/es256-private.pem");
const ES256_PUBLIC: &str = include_str!("../../tests/e2e/fixtures/es256-public.pem");

static HS256: LazyLock<VerifyingKey> =
    LazyLock::new(|| VerifyingKey { alg: SigningAlg::HS256, material: KeyMaterial::Secret(SECRET.into()) });
static ES256: LazyLock<VerifyingKey> =
    LazyLock::new(|| VerifyingKey { alg: SigningAlg::ES256, material: KeyMaterial::PublicPem(ES256_PUBLIC.into()) });

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    match mode % 3 {
        0 => check_token(&String::from_utf8_lossy(rest)),
        1 => check_token(&signed(rest)),
        _ => {
            if let Ok(minted) = Minted::arbitrary_take_rest(Unstructured::new(rest)) {
                round_trip(minted);
            }
        }
    }
});

/// Any token text, against both keys.
fn check_token(token: &str) {
    match read_kid(token) {
        Ok(_) => assert!(!token.is_empty() && token.len() <= limits::MAX_TOKEN),
        Err(TokenError::Missing) => assert!(token.is_empty()),
        Err(TokenError::Malformed | TokenError::MissingKid) => {}
        Err(other) => panic!("read_kid answered {other:?}"),
    }
    for key in [&*HS256, &*ES256] {
        if let Ok(subscriber) = verify(token, key, NOW) {
            verified(token, key, &subscriber);
        }
    }
}

/// What holds for every subscriber `verify` hands to the stream.
fn verified(token: &str, key: &VerifyingKey, s: &Subscriber) {
    let header = jsonwebtoken::decode_header(token).expect("a verified token has a header");
    let pinned: jsonwebtoken::Algorithm = key.alg.as_str().parse().unwrap();
    assert_eq!(header.alg, pinned, "verified under another algorithm than the key's");
    assert!(s.expires_at > NOW, "accepted at or after exp");
    assert!(s.allowed.len() <= limits::MAX_PATTERNS, "{} patterns", s.allowed.len());
    s.authorize(&s.allowed).expect("a token's own patterns authorize against themselves");
    assert_eq!(UserId::parse(s.user.as_str()).as_ref(), Ok(&s.user));
    let visible: Map<String, Value> = serde_json::from_str(&s.claims_json).expect("claims_json is a JSON object");
    assert_eq!(visible.get("sub"), Some(&Value::String(s.user.to_string())));
    assert!(!visible.contains_key("exp") && !visible.contains_key("herald"), "Herald's own claims leak to plugins: {visible:?}");
}

/// `header \n claims`, each base64url-encoded, signed with the HS256 secret.
fn signed(rest: &[u8]) -> String {
    let (header, claims) = match rest.iter().position(|&b| b == b'\n') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (&br#"{"alg":"HS256","typ":"JWT","kid":"sk_fuzz"}"#[..], rest),
    };
    let message = format!("{}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(claims));
    let key = jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes());
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &key, jsonwebtoken::Algorithm::HS256).expect("HMAC signs anything");
    format!("{message}.{signature}")
}

#[derive(Arbitrary, Debug)]
struct Minted {
    kid: String,
    sub: String,
    exp: Exp,
    subscribe: Vec<String>,
    extra: Vec<(Key, Val)>,
    es256: bool,
}

#[derive(Arbitrary, Debug)]
enum Exp {
    FromNow(i16),
    Raw(i64),
}

/// Claim names, biased towards the ones that mean something to Herald or
/// to the JWT library.
#[derive(Arbitrary, Debug)]
enum Key {
    Sub,
    Exp,
    Herald,
    Nbf,
    Aud,
    Iss,
    Locale,
    Other(String),
}

/// Claim values without floats, which JSON does not round-trip exactly.
#[derive(Arbitrary, Debug)]
enum Val {
    Null,
    Bool(bool),
    Int(i64),
    Text(String),
    Ints(Vec<i64>),
    Texts(Vec<String>),
}

/// Mints a token from the claims and verifies it: either the error the
/// claims call for, or the same subscriber.
fn round_trip(m: Minted) {
    let exp = match m.exp {
        Exp::FromNow(d) => NOW + i64::from(d),
        Exp::Raw(e) => e,
    };
    let subscribe: Vec<String> = m.subscribe.into_iter().take(limits::MAX_PATTERNS + 2).collect();
    let extra: Map<String, Value> = m.extra.into_iter().take(8).map(|(k, v)| (key(k), value(v))).collect();
    let claims = SubscriberClaims { sub: m.sub.clone(), exp, herald: HeraldClaims { subscribe: subscribe.clone() }, extra: extra.clone() };
    let (alg, material, key, other) = if m.es256 {
        (SigningAlg::ES256, SigningMaterial::PrivatePem(ES256_PRIVATE.into()), &*ES256, &*HS256)
    } else {
        (SigningAlg::HS256, SigningMaterial::Secret(SECRET.into()), &*HS256, &*ES256)
    };
    // Herald's own names among the extra claims would repeat a key in the
    // JSON: `mint` refuses them.
    let shadowing = ["sub", "exp", "herald"].iter().any(|k| extra.contains_key(*k));
    let token = match mint(&m.kid, alg, &material, &claims) {
        Err(e) if shadowing => {
            assert!(e.to_string().contains("extra claim"), "{e}");
            return;
        }
        minted => minted.expect("minting with a good key does not fail"),
    };
    assert!(!shadowing, "minted claims that shadow Herald's own: {claims:?}");

    if token.len() <= limits::MAX_TOKEN {
        assert_eq!(read_kid(&token), Ok(m.kid.clone()));
    } else {
        assert_eq!(read_kid(&token), Err(TokenError::Malformed));
    }
    assert!(matches!(verify(&token, other, NOW), Err(TokenError::AlgorithmMismatch { .. })), "verified under the other key's algorithm");

    let result = verify(&token, key, NOW);
    let valid_claims = UserId::parse(m.sub.as_str()).is_ok()
        && subscribe.len() <= limits::MAX_PATTERNS
        && subscribe.iter().all(|p| ChannelPattern::parse(p.as_str()).is_ok());
    // jsonwebtoken 11.1 reads `nbf` as a number and, when it is a non-empty
    // array or object, gives up mid-value and reports the rest of the JSON
    // as malformed (a string or `true` is skipped cleanly): such a token is
    // refused.
    let unparsable = match extra.get("nbf") {
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
        _ => false,
    };
    // Herald honours `nbf` once the token has parsed and is not expired: a
    // number (seconds, a fraction rounded down) in the future is "not valid
    // yet", anything else but null is invalid claims; both come before the
    // subscriber's own claims are checked.
    let (nbf_future, nbf_bad) = match extra.get("nbf") {
        None | Some(Value::Null) => (false, false),
        Some(v) => match v.as_i64().or_else(|| v.as_f64().filter(|f| f.is_finite()).map(|f| f.floor() as i64)) {
            Some(nbf) => (nbf > NOW, false),
            None => (false, true),
        },
    };
    let live = !unparsable && exp > NOW;
    match result {
        // The JWT library reads `exp` as unsigned: a negative one is missing.
        Err(TokenError::InvalidClaims(_)) if unparsable || exp < 0 || (live && (nbf_bad || (!nbf_future && !valid_claims))) => {}
        Err(TokenError::NotYetValid { .. }) if live && nbf_future => {}
        Err(TokenError::Expired) if !unparsable && (0..=NOW).contains(&exp) => {}
        Ok(s) => {
            assert!(live && valid_claims && !nbf_bad && !nbf_future, "accepted: {claims:?}");
            verified(&token, key, &s);
            assert_eq!(s.user.as_str(), m.sub);
            assert_eq!(s.expires_at, exp);
            assert_eq!(s.allowed.iter().map(ChannelPattern::as_str).collect::<Vec<_>>(), subscribe);
            let mut visible = extra;
            visible.insert("sub".into(), Value::String(m.sub));
            assert_eq!(serde_json::from_str::<Value>(&s.claims_json).unwrap(), Value::Object(visible));
        }
        Err(e) => panic!("{e:?} for {claims:?}"),
    }
}

fn key(k: Key) -> String {
    match k {
        Key::Sub => "sub".into(),
        Key::Exp => "exp".into(),
        Key::Herald => "herald".into(),
        Key::Nbf => "nbf".into(),
        Key::Aud => "aud".into(),
        Key::Iss => "iss".into(),
        Key::Locale => "locale".into(),
        Key::Other(s) => s,
    }
}

fn value(v: Val) -> Value {
    match v {
        Val::Null => Value::Null,
        Val::Bool(b) => Value::Bool(b),
        Val::Int(i) => Value::from(i),
        Val::Text(s) => Value::String(s),
        Val::Ints(xs) => Value::from(xs),
        Val::Texts(xs) => Value::from(xs),
    }
}

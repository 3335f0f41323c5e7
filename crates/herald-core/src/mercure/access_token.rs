//! Verifying a Mercure 1.0 access token ("Token Validation"): a JWT access
//! token (RFC 9068) signed with the tenant's Mercure key.
//!
//! The algorithm is the key's, never the token's; the header's `typ` must
//! be `at+jwt`, so an ID token or one of Herald's own subscriber tokens
//! signed with the same key is not taken for an access token; `iss` must be
//! the tenant's issuer and `aud` must include the hub's resource
//! identifier; `exp` is required and `nbf` honoured, with no leeway. Every
//! failure is one error on the wire (`invalid_token`), so the answer does
//! not tell why.
//!
//! A tenant with `compat_0x` also takes Mercure 0.x tokens (any other
//! `typ`, the 0.x `mercure` claim), because most published Symfony and
//! Laravel versions still sign those: the key and its algorithm are the
//! same, `exp` and `nbf` are honoured when present, and `iss` and `aud`,
//! which 0.x issuers do not set, are checked only when present.

use jsonwebtoken::{Validation, decode, decode_header};
use serde_json::{Map, Value};
use url::Url;

use super::grants::{GrantLimits, Grants};
use crate::keys::SigningAlg;
use crate::limits;
use crate::token::{KeyMaterial, decoding_key};

/// What a tenant's hub verifies tokens with.
#[derive(Debug, Clone)]
pub struct HubKey {
    pub alg: SigningAlg,
    pub material: KeyMaterial,
    /// The trusted issuer: a token's `iss` must equal it.
    pub issuer: String,
    /// The hub's resource identifier: a token's `aud` must include it.
    pub audience: String,
}

/// A verified token.
#[derive(Debug)]
pub struct AccessToken {
    /// `sub`, if the token has one (subscription ids are derived from it).
    pub subject: Option<String>,
    /// When the token, and any stream opened with it, ends (Unix
    /// seconds); `None` only for a 0.x token without `exp`.
    pub exp: Option<i64>,
    pub grants: Grants,
    /// A 0.x token (`compat_0x`).
    pub legacy: bool,
}

/// Why a token was refused; the reason is for logs, never for the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid Mercure access token: {0}")]
pub struct InvalidToken(pub String);

/// Verifies `token` for the hub at `hub_url`, at `now` (Unix seconds).
pub fn verify(
    token: &str,
    key: &HubKey,
    hub_url: &Url,
    grant_limits: &GrantLimits,
    compat_0x: bool,
    now: i64,
) -> Result<AccessToken, InvalidToken> {
    if token.is_empty() || token.len() > limits::MAX_TOKEN {
        return Err(invalid("empty or too long"));
    }
    // An unknown `alg` such as `none` fails to parse here.
    let header = decode_header(token).map_err(|_| invalid("not a JWS in compact form"))?;
    if header.alg != key.alg.to_jwt() {
        return Err(invalid(&format!("signed with {:?}, the hub's key is {}", header.alg, key.alg)));
    }
    let legacy = !header.typ.as_deref().is_some_and(is_access_token_type);
    if legacy && !compat_0x {
        return Err(invalid("the header's `typ` is not `at+jwt`"));
    }
    let decoding = decoding_key(key.alg, &key.material).map_err(|_| invalid("the hub's key is unusable"))?;
    let mut validation = Validation::new(key.alg.to_jwt());
    // Checked below against the caller's clock, exactly.
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.set_required_spec_claims::<&str>(&[]);
    let claims = decode::<Map<String, Value>>(token, &decoding, &validation).map_err(|e| invalid(&e.to_string()))?.claims;
    let number = |name: &str| -> Result<Option<i64>, InvalidToken> {
        match claims.get(name) {
            None => Ok(None),
            Some(v) => v.as_i64().map(Some).ok_or_else(|| invalid(&format!("`{name}` is not a whole number of seconds"))),
        }
    };
    let exp = number("exp")?;
    if exp.is_none() && !legacy {
        return Err(invalid("no `exp`"));
    }
    if exp.is_some_and(|exp| exp <= now) {
        return Err(invalid("expired"));
    }
    if number("nbf")?.is_some_and(|nbf| nbf > now) {
        return Err(invalid("not valid yet (`nbf`)"));
    }
    let issuer_ok = match claims.get("iss") {
        None => legacy,
        Some(iss) => iss.as_str() == Some(key.issuer.as_str()),
    };
    if !issuer_ok {
        return Err(invalid("`iss` is not the hub's trusted issuer"));
    }
    let audience_ok = match claims.get("aud") {
        None => legacy,
        Some(Value::String(a)) => *a == key.audience,
        Some(Value::Array(all)) => all.iter().any(|a| a.as_str() == Some(key.audience.as_str())),
        _ => false,
    };
    if !audience_ok {
        return Err(invalid("`aud` does not include the hub"));
    }
    let subject = match claims.get("sub") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(invalid("`sub` is not a string")),
    };
    let grants = match (legacy, claims.get("mercure")) {
        (true, Some(mercure)) => Grants::from_legacy_claim(mercure, hub_url, grant_limits),
        (true, None) => Ok(Grants::default()),
        (false, _) => Grants::from_claim(claims.get("authorization_details"), hub_url, grant_limits),
    }
    .map_err(|e| invalid(&e.0))?;
    Ok(AccessToken { subject, exp, grants, legacy })
}

/// `at+jwt` or `application/at+jwt`, without regard to case (RFC 7515 4.1.9).
fn is_access_token_type(typ: &str) -> bool {
    let t = typ.as_bytes();
    let bare = if t.len() > 12 && t[..12].eq_ignore_ascii_case(b"application/") { &t[12..] } else { t };
    bare.eq_ignore_ascii_case(b"at+jwt")
}

fn invalid(why: &str) -> InvalidToken {
    InvalidToken(why.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header, encode};
    use serde_json::json;

    const SECRET: &str = "a-tenant-mercure-secret-of-enough-length";
    const NOW: i64 = 1_800_000_000;

    fn hub() -> Url {
        Url::parse("https://hub.example.com/v1/tenants/t/.well-known/mercure").unwrap()
    }

    fn key() -> HubKey {
        HubKey {
            alg: SigningAlg::HS256,
            material: KeyMaterial::Secret(SECRET.into()),
            issuer: "https://app.example.com".into(),
            audience: hub().to_string(),
        }
    }

    fn claims() -> Value {
        json!({
            "iss": "https://app.example.com",
            "aud": hub().to_string(),
            "sub": "urn:uuid:1",
            "exp": NOW + 60,
            "authorization_details": [{
                "type": "https://mercure.rocks/authorization-detail",
                "actions": ["subscribe"],
                "topics": [{"match": "https://example.com/books/:id", "match_type": "urlpattern"}]
            }]
        })
    }

    fn sign(typ: Option<&str>, claims: &Value) -> String {
        let mut header = Header::new(jsonwebtoken::Algorithm::HS256);
        header.typ = typ.map(str::to_owned);
        encode(&header, claims, &EncodingKey::from_secret(SECRET.as_bytes())).unwrap()
    }

    fn check(token: &str) -> Result<AccessToken, InvalidToken> {
        verify(token, &key(), &hub(), &GrantLimits::default(), false, NOW)
    }

    fn check_compat(token: &str) -> Result<AccessToken, InvalidToken> {
        verify(token, &key(), &hub(), &GrantLimits::default(), true, NOW)
    }

    #[test]
    fn a_good_token_gives_its_grants() {
        for typ in ["at+jwt", "AT+JWT", "application/at+jwt", "Application/At+Jwt"] {
            let t = check(&sign(Some(typ), &claims())).unwrap_or_else(|e| panic!("typ {typ}: {e}"));
            assert_eq!((t.subject.as_deref(), t.exp, t.legacy), (Some("urn:uuid:1"), Some(NOW + 60), false));
            assert!(t.grants.may_read(["https://example.com/books/9"], &hub()));
            assert!(!t.grants.may_publish(["https://example.com/books/9"], &hub()));
        }
        let mut many = claims();
        many["aud"] = json!(["https://other.example.com", hub().to_string()]);
        assert!(check(&sign(Some("at+jwt"), &many)).is_ok(), "`aud` as an array that includes the hub");
    }

    #[test]
    fn the_header_is_checked_before_the_signature() {
        for typ in [None, Some("JWT"), Some("application/jwt"), Some("at+jwt2")] {
            assert!(check(&sign(typ, &claims())).is_err(), "expected typ {typ:?} to be refused");
        }
        // Signed with another algorithm: refused whatever the signature.
        let es = {
            let mut header = Header::new(jsonwebtoken::Algorithm::HS384);
            header.typ = Some("at+jwt".into());
            encode(&header, &claims(), &EncodingKey::from_secret(SECRET.as_bytes())).unwrap()
        };
        assert!(check(&es).unwrap_err().0.contains("HS384"));
        // `alg: none`, hand-made.
        use base64::Engine;
        let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        let none = format!("{}.{}.", b64(&json!({"alg": "none", "typ": "at+jwt"})), b64(&claims()));
        assert!(check(&none).is_err());
        let forged = sign(Some("at+jwt"), &claims()).rsplit_once('.').map(|(head, _)| format!("{head}.AAAA")).unwrap();
        assert!(check(&forged).is_err(), "a bad signature");
    }

    #[test]
    fn a_0x_token_is_taken_only_with_compat_0x() {
        // What Symfony's Mercure component 0.x signs: no typ, iss, aud or exp.
        let old = sign(Some("JWT"), &json!({"mercure": {"publish": ["*"], "subscribe": ["https://example.com/books/{id}"]}}));
        assert!(check(&old).is_err(), "not without compat_0x");
        let t = check_compat(&old).unwrap();
        assert_eq!((t.exp, t.legacy), (None, true));
        assert!(t.grants.may_publish(["https://example.com/anything"], &hub()));
        assert!(t.grants.may_read(["https://example.com/books/1"], &hub()));
        // What it does carry is still checked.
        let expired = sign(None, &json!({"exp": NOW, "mercure": {"publish": ["*"]}}));
        assert!(check_compat(&expired).is_err());
        let elsewhere = sign(None, &json!({"aud": "https://other.example.com", "mercure": {"publish": ["*"]}}));
        assert!(check_compat(&elsewhere).is_err());
        let other_issuer = sign(None, &json!({"iss": "https://evil.example.com", "mercure": {"publish": ["*"]}}));
        assert!(check_compat(&other_issuer).is_err());
        let bad_claim = sign(None, &json!({"mercure": {"publish": "*"}}));
        assert!(check_compat(&bad_claim).is_err());
        let nothing = check_compat(&sign(None, &json!({"sub": "x"}))).unwrap();
        assert!(nothing.grants.is_empty(), "no `mercure` claim grants nothing");
        // A 1.0 token is still read as one under compat_0x.
        let t = check_compat(&sign(Some("at+jwt"), &claims())).unwrap();
        assert!(!t.legacy && t.grants.may_read(["https://example.com/books/2"], &hub()));
        let mut no_exp = claims();
        no_exp.as_object_mut().unwrap().remove("exp");
        assert!(check_compat(&sign(Some("at+jwt"), &no_exp)).is_err(), "a 1.0 token needs `exp` even under compat_0x");
    }

    #[test]
    fn claims_are_checked_with_no_leeway() {
        let with = |f: &dyn Fn(&mut Value)| {
            let mut c = claims();
            f(&mut c);
            check(&sign(Some("at+jwt"), &c))
        };
        assert!(with(&|c| c["exp"] = json!(NOW)).is_err(), "expired at `exp`");
        assert!(with(&|c| c["exp"] = json!(NOW + 1)).is_ok());
        assert!(with(&|c| drop(c.as_object_mut().unwrap().remove("exp"))).is_err(), "no `exp`");
        assert!(with(&|c| c["exp"] = json!("soon")).is_err());
        assert!(with(&|c| c["nbf"] = json!(NOW + 1)).is_err(), "not valid yet");
        assert!(with(&|c| c["nbf"] = json!(NOW)).is_ok());
        assert!(with(&|c| c["iss"] = json!("https://evil.example.com")).is_err());
        assert!(with(&|c| drop(c.as_object_mut().unwrap().remove("iss"))).is_err(), "no `iss`");
        assert!(with(&|c| c["aud"] = json!("https://hub.example.com/.well-known/mercure")).is_err(), "another hub");
        assert!(with(&|c| c["aud"] = json!([])).is_err());
        assert!(with(&|c| c["sub"] = json!(42)).is_err());
        assert!(with(&|c| drop(c.as_object_mut().unwrap().remove("sub"))).is_ok(), "`sub` is the issuer's duty");
        let bad_detail = with(&|c| c["authorization_details"][0]["topics"] = json!(["bare string"]));
        assert!(bad_detail.is_err(), "one bad detail spoils the token");
        let none = with(&|c| drop(c.as_object_mut().unwrap().remove("authorization_details"))).unwrap();
        assert!(none.grants.is_empty(), "no details: a valid token that grants nothing");
    }
}

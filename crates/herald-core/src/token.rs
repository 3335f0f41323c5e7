//! Verifying (and, for tooling, minting) subscriber JWTs.
//!
//! The key is chosen by the token's `kid`; the algorithm comes from the key,
//! never from the token, so a token that names another algorithm (including
//! `none`, or HS256 keyed with an RSA public key) is refused.

use jsonwebtoken::{DecodingKey, EncodingKey, Header, Validation, decode, decode_header, encode};
use thiserror::Error;

use crate::claims::{Subscriber, SubscriberClaims};
use crate::keys::SigningAlg;
use crate::{DomainError, limits};

/// Why a subscriber token was refused. All of them mean 401.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum TokenError {
    #[error("no subscriber token was given")]
    Missing,
    #[error("the token is malformed")]
    Malformed,
    #[error("the token header has no `kid`")]
    MissingKid,
    #[error("no signing key `{0}` exists for this tenant")]
    UnknownKey(String),
    #[error("the token's algorithm `{got}` does not match its key's `{want}`")]
    AlgorithmMismatch { got: String, want: SigningAlg },
    #[error("the token has expired")]
    Expired,
    /// `nbf` is still in the future.
    #[error("the token is not valid yet (its `nbf` is {nbf}, now is {now})")]
    NotYetValid { nbf: i64, now: i64 },
    /// The signing key names an issuer and the token's `iss` is another (or none).
    #[error("the token's `iss` is not the issuer its signing key requires")]
    WrongIssuer,
    /// The signing key names an audience and the token's `aud` does not include it.
    #[error("the token's `aud` does not include the audience its signing key requires")]
    WrongAudience,
    /// The token lives longer than the tenant allows.
    #[error("the token lives {lifetime} seconds, longer than this tenant's maximum of {max} (`exp - iat`, or `exp - now` without `iat`)")]
    LifetimeTooLong { lifetime: i64, max: u64 },
    #[error("the token's signature is invalid")]
    BadSignature,
    #[error("the token's claims are invalid: {0}")]
    InvalidClaims(String),
}

/// What verifies a token: the shared secret or the uploaded public key.
#[derive(Clone)]
pub enum KeyMaterial {
    /// HS256: the secret's UTF-8 bytes are the HMAC key.
    Secret(String),
    /// RS256, ES256, EdDSA: a PEM public key.
    PublicPem(String),
}

impl std::fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyMaterial::Secret(_) => f.write_str("Secret(<redacted>)"),
            KeyMaterial::PublicPem(_) => f.write_str("PublicPem(..)"),
        }
    }
}

/// A tenant's signing key as needed for verification.
#[derive(Clone, Debug)]
pub struct VerifyingKey {
    pub alg: SigningAlg,
    pub material: KeyMaterial,
}

pub(crate) fn decoding_key(alg: SigningAlg, material: &KeyMaterial) -> Result<DecodingKey, jsonwebtoken::errors::Error> {
    match (alg, material) {
        (SigningAlg::HS256, KeyMaterial::Secret(s)) => Ok(DecodingKey::from_secret(s.as_bytes())),
        (SigningAlg::RS256, KeyMaterial::PublicPem(p)) => DecodingKey::from_rsa_pem(p.as_bytes()),
        (SigningAlg::ES256, KeyMaterial::PublicPem(p)) => DecodingKey::from_ec_pem(p.as_bytes()),
        (SigningAlg::EdDSA, KeyMaterial::PublicPem(p)) => DecodingKey::from_ed_pem(p.as_bytes()),
        _ => Err(jsonwebtoken::errors::ErrorKind::InvalidKeyFormat.into()),
    }
}

/// What a token must satisfy besides signature and expiry: set per signing
/// key (`issuer`, `audience`) and per tenant (`max_lifetime_seconds`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TokenRules {
    /// When set, the token's `iss` must equal it.
    pub issuer: Option<String>,
    /// When set, the token's `aud` (a string, or an array of strings) must
    /// include it.
    pub audience: Option<String>,
    /// When set, `exp - iat` (or `exp - now` for a token without `iat`)
    /// must not exceed it.
    pub max_lifetime_seconds: Option<u64>,
}

/// Longest `iss` or `aud` a signing key may require, in bytes.
pub const MAX_CLAIM_RULE: usize = 256;

impl TokenRules {
    /// Checks an issuer or audience a signing key is to require.
    pub fn validate_claim(field: &'static str, value: &str) -> Result<(), DomainError> {
        if value.is_empty() || value.len() > MAX_CLAIM_RULE || value.chars().any(char::is_control) {
            return Err(DomainError::invalid(field, format!("1 to {MAX_CLAIM_RULE} bytes, no control characters")));
        }
        Ok(())
    }

    /// `nbf`, `iss`, `aud` and the lifetime, read from the claims that are
    /// not Herald's own. `nbf` is honoured whenever present, with the same
    /// (zero) leeway as `exp`.
    fn check(&self, claims: &SubscriberClaims, now: i64) -> Result<(), TokenError> {
        let number = |name: &str| -> Result<Option<i64>, TokenError> {
            match claims.extra.get(name) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(v) => v
                    .as_i64()
                    .or_else(|| v.as_f64().filter(|f| f.is_finite()).map(|f| f.floor() as i64))
                    .map(Some)
                    .ok_or_else(|| TokenError::InvalidClaims(format!("`{name}` must be a number of seconds"))),
            }
        };
        if let Some(nbf) = number("nbf")?
            && nbf > now
        {
            return Err(TokenError::NotYetValid { nbf, now });
        }
        if let Some(want) = &self.issuer
            && claims.extra.get("iss").and_then(|v| v.as_str()) != Some(want.as_str())
        {
            return Err(TokenError::WrongIssuer);
        }
        if let Some(want) = &self.audience {
            let ok = match claims.extra.get("aud") {
                Some(serde_json::Value::String(a)) => a == want,
                Some(serde_json::Value::Array(all)) => all.iter().any(|a| a.as_str() == Some(want.as_str())),
                _ => false,
            };
            if !ok {
                return Err(TokenError::WrongAudience);
            }
        }
        if let Some(max) = self.max_lifetime_seconds {
            let from = number("iat")?.unwrap_or(now);
            let lifetime = claims.exp.saturating_sub(from);
            if lifetime > i64::try_from(max).unwrap_or(i64::MAX) {
                return Err(TokenError::LifetimeTooLong { lifetime, max });
            }
        }
        Ok(())
    }
}

/// Checks that an uploaded public key parses for its algorithm.
pub fn validate_public_key(alg: SigningAlg, pem: &str) -> Result<(), DomainError> {
    if alg.is_symmetric() {
        return Err(DomainError::invalid("public_key", "HS256 keys are generated by Herald; do not upload one"));
    }
    if pem.len() > limits::MAX_PUBLIC_KEY_PEM {
        return Err(DomainError::invalid("public_key", "is too large"));
    }
    decoding_key(alg, &KeyMaterial::PublicPem(pem.to_owned()))
        .map(|_| ())
        .map_err(|_| DomainError::invalid("public_key", format!("is not a PEM public key usable with {alg}")))
}

/// Reads the `kid` from a token's header, refusing tokens that cannot be
/// ours before any key is looked up.
pub fn read_kid(token: &str) -> Result<String, TokenError> {
    if token.is_empty() {
        return Err(TokenError::Missing);
    }
    if token.len() > limits::MAX_TOKEN {
        return Err(TokenError::Malformed);
    }
    // An unknown `alg` such as `none` fails to parse here.
    let header = decode_header(token).map_err(|_| TokenError::Malformed)?;
    header.kid.ok_or(TokenError::MissingKid)
}

/// Verifies signature, pinned algorithm, expiry and `nbf` (against `now`,
/// Unix seconds), and returns the subscriber.
pub fn verify(token: &str, key: &VerifyingKey, now: i64) -> Result<Subscriber, TokenError> {
    verify_with(token, key, &TokenRules::default(), now)
}

/// [`verify`], then the key's and tenant's [`TokenRules`].
pub fn verify_with(token: &str, key: &VerifyingKey, rules: &TokenRules, now: i64) -> Result<Subscriber, TokenError> {
    let header = decode_header(token).map_err(|_| TokenError::Malformed)?;
    if header.alg != key.alg.to_jwt() {
        return Err(TokenError::AlgorithmMismatch { got: format!("{:?}", header.alg), want: key.alg });
    }
    let decoding = decoding_key(key.alg, &key.material).map_err(|_| TokenError::BadSignature)?;
    let mut validation = Validation::new(key.alg.to_jwt());
    // Expiry is checked below against the caller's clock, exactly: the
    // stream closes at `exp`, so acceptance must agree.
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["exp", "sub"]);
    let data = decode::<SubscriberClaims>(token, &decoding, &validation).map_err(|e| {
        use jsonwebtoken::errors::ErrorKind;
        match e.kind() {
            ErrorKind::ExpiredSignature => TokenError::Expired,
            ErrorKind::InvalidSignature => TokenError::BadSignature,
            ErrorKind::InvalidAlgorithm => TokenError::AlgorithmMismatch { got: format!("{:?}", header.alg), want: key.alg },
            ErrorKind::Json(_) | ErrorKind::MissingRequiredClaim(_) => TokenError::InvalidClaims(e.to_string()),
            _ => TokenError::Malformed,
        }
    })?;
    // RFC 7519: the token must not be accepted on or after `exp`.
    if data.claims.exp <= now {
        return Err(TokenError::Expired);
    }
    rules.check(&data.claims, now)?;
    Subscriber::from_claims(data.claims)
}

/// What signs a token, for `herald token` and tests.
#[derive(Clone)]
pub enum SigningMaterial {
    Secret(String),
    PrivatePem(String),
}

/// Mints a subscriber token. Herald never needs this to serve; it exists so
/// operators can try things out without writing a signer.
pub fn mint(kid: &str, alg: SigningAlg, material: &SigningMaterial, claims: &SubscriberClaims) -> Result<String, DomainError> {
    // `extra` is flattened beside these: the same key twice would make a
    // token that no verifier reads the same way.
    if let Some(name) = ["sub", "exp", "herald"].into_iter().find(|k| claims.extra.contains_key(*k)) {
        return Err(DomainError::invalid("claims", format!("`{name}` is set by its own field, not as an extra claim")));
    }
    let key = match (alg, material) {
        (SigningAlg::HS256, SigningMaterial::Secret(s)) => Ok(EncodingKey::from_secret(s.as_bytes())),
        (SigningAlg::RS256, SigningMaterial::PrivatePem(p)) => EncodingKey::from_rsa_pem(p.as_bytes()),
        (SigningAlg::ES256, SigningMaterial::PrivatePem(p)) => EncodingKey::from_ec_pem(p.as_bytes()),
        (SigningAlg::EdDSA, SigningMaterial::PrivatePem(p)) => EncodingKey::from_ed_pem(p.as_bytes()),
        _ => {
            return Err(DomainError::invalid(
                "key",
                format!("{alg} needs {}", if alg.is_symmetric() { "a secret" } else { "a private key PEM" }),
            ));
        }
    }
    .map_err(|e| DomainError::invalid("key", e.to_string()))?;
    let mut header = Header::new(alg.to_jwt());
    header.kid = Some(kid.to_owned());
    encode(&header, claims, &key).map_err(|e| DomainError::invalid("key", e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claims::HeraldClaims;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn claims(exp: i64) -> SubscriberClaims {
        SubscriberClaims { sub: "42".into(), exp, herald: HeraldClaims { subscribe: vec!["orders".into()] }, extra: Default::default() }
    }

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    fn hs_key(secret: &str) -> VerifyingKey {
        VerifyingKey { alg: SigningAlg::HS256, material: KeyMaterial::Secret(secret.into()) }
    }

    #[test]
    fn hs256_round_trip() {
        let t = mint("sk_1", SigningAlg::HS256, &SigningMaterial::Secret("s3cret".into()), &claims(now() + 60)).unwrap();
        assert_eq!(read_kid(&t).unwrap(), "sk_1");
        let sub = verify(&t, &hs_key("s3cret"), now()).unwrap();
        assert_eq!(sub.user.as_str(), "42");
        assert_eq!(sub.allowed.len(), 1);
    }

    #[test]
    fn extra_claims_cannot_shadow_the_named_ones() {
        let material = SigningMaterial::Secret("s3cret".into());
        let mut c = claims(now() + 60);
        c.extra.insert("tier".into(), "gold".into());
        let t = mint("k", SigningAlg::HS256, &material, &c).unwrap();
        assert_eq!(verify(&t, &hs_key("s3cret"), now()).unwrap().user.as_str(), "42");
        for name in ["sub", "exp", "herald"] {
            let mut c = claims(now() + 60);
            c.extra.insert(name.into(), "7".into());
            let err = mint("k", SigningAlg::HS256, &material, &c).unwrap_err();
            assert!(err.to_string().contains(name), "{err}");
        }
    }

    #[test]
    fn expired_and_badly_signed_tokens_are_refused() {
        let material = SigningMaterial::Secret("s3cret".into());
        let old = mint("k", SigningAlg::HS256, &material, &claims(now() - 1)).unwrap();
        assert_eq!(verify(&old, &hs_key("s3cret"), now()).unwrap_err(), TokenError::Expired);
        let now_exp = mint("k", SigningAlg::HS256, &material, &claims(now())).unwrap();
        assert_eq!(verify(&now_exp, &hs_key("s3cret"), now()).unwrap_err(), TokenError::Expired);
        let t = mint("k", SigningAlg::HS256, &material, &claims(now() + 60)).unwrap();
        assert_eq!(verify(&t, &hs_key("other"), now()).unwrap_err(), TokenError::BadSignature);
    }

    fn with_extra(exp: i64, extra: serde_json::Value) -> SubscriberClaims {
        SubscriberClaims { extra: extra.as_object().cloned().unwrap(), ..claims(exp) }
    }

    #[test]
    fn nbf_is_honoured_with_the_same_leeway_as_exp() {
        let m = SigningMaterial::Secret("s".into());
        let key = hs_key("s");
        let t = mint("k", SigningAlg::HS256, &m, &with_extra(now() + 60, serde_json::json!({"nbf": now() + 30}))).unwrap();
        assert!(matches!(verify(&t, &key, now()).unwrap_err(), TokenError::NotYetValid { .. }));
        assert!(verify(&t, &key, now() + 30).is_ok(), "valid from nbf on");
        let t = mint("k", SigningAlg::HS256, &m, &with_extra(now() + 60, serde_json::json!({"nbf": "soon"}))).unwrap();
        assert!(matches!(verify(&t, &key, now()).unwrap_err(), TokenError::InvalidClaims(_)));
    }

    #[test]
    fn issuer_and_audience_are_required_only_when_the_key_names_them() {
        let m = SigningMaterial::Secret("s".into());
        let key = hs_key("s");
        let rules = TokenRules { issuer: Some("https://app.example".into()), audience: Some("herald".into()), max_lifetime_seconds: None };
        let check = |extra: serde_json::Value| {
            let t = mint("k", SigningAlg::HS256, &m, &with_extra(now() + 60, extra)).unwrap();
            (verify_with(&t, &key, &rules, now()).err(), verify(&t, &key, now()).is_ok())
        };
        assert_eq!(check(serde_json::json!({"iss": "https://app.example", "aud": "herald"})), (None, true));
        assert_eq!(check(serde_json::json!({"iss": "https://app.example", "aud": ["x", "herald"]})), (None, true));
        assert_eq!(check(serde_json::json!({"iss": "https://evil.example", "aud": "herald"})), (Some(TokenError::WrongIssuer), true));
        assert_eq!(check(serde_json::json!({"aud": "herald"})), (Some(TokenError::WrongIssuer), true));
        assert_eq!(check(serde_json::json!({"iss": "https://app.example", "aud": "other"})), (Some(TokenError::WrongAudience), true));
        assert_eq!(check(serde_json::json!({"iss": "https://app.example"})), (Some(TokenError::WrongAudience), true));
        assert!(TokenRules::validate_claim("issuer", "").is_err());
        assert!(TokenRules::validate_claim("issuer", &"x".repeat(MAX_CLAIM_RULE + 1)).is_err());
    }

    #[test]
    fn a_tenants_maximum_lifetime_counts_from_iat_or_now() {
        let m = SigningMaterial::Secret("s".into());
        let key = hs_key("s");
        let rules = TokenRules { max_lifetime_seconds: Some(3600), ..Default::default() };
        let t = mint("k", SigningAlg::HS256, &m, &claims(now() + 3600)).unwrap();
        assert!(verify_with(&t, &key, &rules, now()).is_ok());
        let t = mint("k", SigningAlg::HS256, &m, &claims(now() + 7200)).unwrap();
        assert!(matches!(verify_with(&t, &key, &rules, now()).unwrap_err(), TokenError::LifetimeTooLong { max: 3600, .. }));
        // Issued long ago for a long time: refused even though little is left.
        let t = mint("k", SigningAlg::HS256, &m, &with_extra(now() + 60, serde_json::json!({"iat": now() - 86_400}))).unwrap();
        assert!(matches!(verify_with(&t, &key, &rules, now()).unwrap_err(), TokenError::LifetimeTooLong { .. }));
        let t = mint("k", SigningAlg::HS256, &m, &with_extra(now() + 60, serde_json::json!({"iat": now() - 60}))).unwrap();
        assert!(verify_with(&t, &key, &rules, now()).is_ok());
    }

    #[test]
    fn alg_none_is_refused_before_lookup() {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","kid":"k","typ":"JWT"}"#);
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(now() + 60)).unwrap());
        let token = format!("{header}.{body}.");
        assert_eq!(read_kid(&token).unwrap_err(), TokenError::Malformed);
        assert!(verify(&token, &hs_key("x"), now()).is_err());
    }

    #[test]
    fn algorithm_is_pinned_by_the_key() {
        let t = mint("k", SigningAlg::HS256, &SigningMaterial::Secret("pem-text".into()), &claims(now() + 60)).unwrap();
        let es = VerifyingKey { alg: SigningAlg::ES256, material: KeyMaterial::PublicPem("pem-text".into()) };
        assert!(matches!(verify(&t, &es, now()).unwrap_err(), TokenError::AlgorithmMismatch { .. }));
    }

    #[test]
    fn public_keys_are_checked_on_upload() {
        assert!(validate_public_key(SigningAlg::ES256, "not a pem").is_err());
        assert!(validate_public_key(SigningAlg::HS256, "x").is_err());
    }
}

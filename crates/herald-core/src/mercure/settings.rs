//! A tenant's Mercure hub settings (`PUT /v1/tenants/{t}/mercure`), checked:
//! the key tokens are verified with (pinned to one algorithm), the trusted
//! issuer and the hub's resource identifier, whether anonymous subscribers
//! are served, the origins browsers may call from, and whether 0.x clients
//! are accepted.

use crate::DomainError;
use crate::keys::SigningAlg;
use crate::origin::{self, Origin};
use crate::token::{KeyMaterial, TokenRules, validate_public_key};

use super::access_token::HubKey;

/// Shortest HS256 secret, in bytes: RFC 7518 3.2 asks for a key at least
/// as long as the hash (256 bits).
pub const MIN_SECRET_BYTES: usize = 32;
/// Longest HS256 secret, in bytes.
pub const MAX_SECRET_BYTES: usize = 512;

/// What an admin sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsInput {
    pub jwt_alg: String,
    /// The HS256 secret, or the public key in PEM for the others.
    pub jwt_key: String,
    pub issuer: String,
    pub audience: String,
    pub anonymous: bool,
    pub cors_origins: Vec<String>,
    pub compat_0x: bool,
}

/// Checked settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub jwt_alg: SigningAlg,
    pub jwt_key: KeyMaterial,
    pub issuer: String,
    pub audience: String,
    pub anonymous: bool,
    pub cors_origins: Vec<Origin>,
    pub compat_0x: bool,
}

impl Settings {
    pub fn parse(input: SettingsInput) -> Result<Self, DomainError> {
        let jwt_alg: SigningAlg = input.jwt_alg.parse().map_err(|_| {
            DomainError::invalid("jwt_alg", format!("unsupported algorithm `{}`; use HS256, RS256, ES256 or EdDSA", input.jwt_alg))
        })?;
        let jwt_key = if jwt_alg.is_symmetric() {
            let n = input.jwt_key.len();
            if !(MIN_SECRET_BYTES..=MAX_SECRET_BYTES).contains(&n) {
                return Err(DomainError::invalid(
                    "jwt_key",
                    format!("an HS256 secret is {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes (RFC 7518 3.2), got {n}"),
                ));
            }
            KeyMaterial::Secret(input.jwt_key)
        } else {
            validate_public_key(jwt_alg, &input.jwt_key).map_err(|e| match e {
                DomainError::Invalid { reason, .. } => DomainError::invalid("jwt_key", reason),
                other => other,
            })?;
            KeyMaterial::PublicPem(input.jwt_key)
        };
        TokenRules::validate_claim("issuer", &input.issuer)?;
        TokenRules::validate_claim("audience", &input.audience)?;
        let cors_origins = origin::parse_list(input.cors_origins).map_err(|e| match e {
            DomainError::Invalid { reason, .. } => DomainError::invalid("cors_origins", reason),
            other => other,
        })?;
        Ok(Self {
            jwt_alg,
            jwt_key,
            issuer: input.issuer,
            audience: input.audience,
            anonymous: input.anonymous,
            cors_origins,
            compat_0x: input.compat_0x,
        })
    }

    /// What tokens are verified with.
    pub fn hub_key(&self) -> HubKey {
        HubKey { alg: self.jwt_alg, material: self.jwt_key.clone(), issuer: self.issuer.clone(), audience: self.audience.clone() }
    }

    /// Whether a browser at `origin` may call the hub (CORS).
    pub fn allows_origin(&self, origin: &str) -> bool {
        self.cors_origins.iter().any(|o| o.as_str() == origin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED_PUBLIC: &str =
        "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n";

    fn input() -> SettingsInput {
        SettingsInput {
            jwt_alg: "HS256".into(),
            jwt_key: "!ChangeThisMercureHubJWTSecretKey!".into(),
            issuer: "https://example.com".into(),
            audience: "https://hub.example.com/.well-known/mercure".into(),
            anonymous: true,
            cors_origins: vec!["https://app.example.com".into()],
            compat_0x: true,
        }
    }

    fn field(r: Result<Settings, DomainError>) -> &'static str {
        match r {
            Err(DomainError::Invalid { field, .. }) => field,
            other => panic!("expected an invalid field, got {other:?}"),
        }
    }

    #[test]
    fn good_settings_are_taken() {
        let s = Settings::parse(input()).unwrap();
        assert_eq!((s.jwt_alg, s.anonymous, s.compat_0x), (SigningAlg::HS256, true, true));
        assert!(s.allows_origin("https://app.example.com"));
        assert!(!s.allows_origin("https://evil.example.com"));
        assert_eq!(s.hub_key().issuer, "https://example.com");
        let ed = Settings::parse(SettingsInput { jwt_alg: "EdDSA".into(), jwt_key: ED_PUBLIC.into(), ..input() }).unwrap();
        assert!(matches!(ed.jwt_key, KeyMaterial::PublicPem(_)));
    }

    #[test]
    fn each_bad_field_is_named() {
        assert_eq!(field(Settings::parse(SettingsInput { jwt_alg: "none".into(), ..input() })), "jwt_alg");
        assert_eq!(field(Settings::parse(SettingsInput { jwt_alg: "HS512".into(), ..input() })), "jwt_alg");
        assert_eq!(field(Settings::parse(SettingsInput { jwt_key: "short".into(), ..input() })), "jwt_key");
        assert_eq!(field(Settings::parse(SettingsInput { jwt_key: "x".repeat(513), ..input() })), "jwt_key");
        assert_eq!(field(Settings::parse(SettingsInput { jwt_alg: "RS256".into(), jwt_key: ED_PUBLIC.into(), ..input() })), "jwt_key");
        assert_eq!(field(Settings::parse(SettingsInput { jwt_alg: "ES256".into(), jwt_key: "not a pem".into(), ..input() })), "jwt_key");
        assert_eq!(field(Settings::parse(SettingsInput { issuer: String::new(), ..input() })), "issuer");
        assert_eq!(field(Settings::parse(SettingsInput { audience: "a\nb".into(), ..input() })), "audience");
        assert_eq!(field(Settings::parse(SettingsInput { cors_origins: vec!["https://a.com/path".into()], ..input() })), "cors_origins");
        assert_eq!(
            field(Settings::parse(SettingsInput { cors_origins: vec!["https://a.com".into(), "https://a.com".into()], ..input() })),
            "cors_origins"
        );
    }
}

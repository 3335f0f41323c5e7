//! Secrets kept sealed in the configuration itself (today the SMTP
//! password, `email.smtp_password`): `herald seal` turns a secret into
//! `sealed:v1:…` under the configured `secrets_key`, and Herald opens it at
//! start with the same key. The configuration file (or a repository, or a
//! container spec) then holds nothing usable without the key, which is
//! kept elsewhere (`HERALD_SECRETS_KEY` from a secret store).
//!
//! ChaCha20-Poly1305 (`herald_core::sealed`) under a key derived from
//! `secrets_key` for this purpose alone: a value sealed in the database
//! (signing secrets) does not open here, nor the other way round.

use std::io::Read;

use herald_core::sealed;

use crate::config::{Config, ConfigError};
use crate::redact::SecretString;

/// Marks a sealed value.
pub const PREFIX: &str = "sealed:v1:";

fn key(secrets_key: &SecretString) -> [u8; 32] {
    sealed::derive_key("herald sealed configuration value v1", &[secrets_key.expose().as_bytes()])
}

/// `plain`, sealed under `secrets_key`, as a configuration value.
pub fn seal(secrets_key: &SecretString, plain: &str) -> String {
    format!("{PREFIX}{}", sealed::seal(&key(secrets_key), plain.as_bytes()))
}

/// A configuration value as Herald uses it: opened when sealed, as it is
/// otherwise. `setting` names it in errors.
pub fn open(value: &SecretString, secrets_key: Option<&SecretString>, setting: &str) -> Result<SecretString, ConfigError> {
    let Some(sealed_text) = value.expose().strip_prefix(PREFIX) else { return Ok(value.clone()) };
    let Some(secrets_key) = secrets_key else {
        return Err(ConfigError::Invalid(format!(
            "{setting} is sealed (`{PREFIX}…`): set secrets_key (HERALD_SECRETS_KEY) to the key it was sealed with"
        )));
    };
    let plain = sealed::open(&key(secrets_key), sealed_text).ok_or_else(|| {
        ConfigError::Invalid(format!(
            "{setting} does not open with this secrets_key: it was sealed with another key, or altered; seal it again with `herald seal`"
        ))
    })?;
    String::from_utf8(plain).map(SecretString::from).map_err(|_| ConfigError::Invalid(format!("{setting}: the sealed value is not text")))
}

/// `herald seal`: the secret read from `input` (one trailing line end
/// dropped), sealed under the configuration's `secrets_key`.
pub fn run(config: &Config, mut input: impl Read) -> anyhow::Result<String> {
    let Some(secrets_key) = &config.secrets_key else {
        anyhow::bail!("herald seal needs secrets_key (HERALD_SECRETS_KEY or the configuration file): values are sealed under it");
    };
    if secrets_key.expose().len() < crate::config::MIN_SECRETS_KEY_LEN {
        anyhow::bail!("secrets_key (HERALD_SECRETS_KEY) must be at least {} characters", crate::config::MIN_SECRETS_KEY_LEN);
    }
    let mut text = String::new();
    input.read_to_string(&mut text).map_err(|e| anyhow::anyhow!("reading the secret from standard input: {e}"))?;
    let secret = text.strip_suffix('\n').map(|t| t.strip_suffix('\r').unwrap_or(t)).unwrap_or(&text);
    if secret.is_empty() {
        anyhow::bail!("nothing to seal: write the secret to standard input (e.g. `printf %s \"$PASSWORD\" | herald seal`)");
    }
    if secret.starts_with(PREFIX) {
        anyhow::bail!("the input is sealed already");
    }
    Ok(seal(secrets_key, secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> SecretString {
        SecretString::from(s)
    }

    #[test]
    fn opens_with_its_key_only() {
        let k = key("a-secrets-key-of-at-least-32-characters");
        let sealed = seal(&k, "p@ss:w/rd é");
        assert!(sealed.starts_with(PREFIX) && !sealed.contains("p@ss"));
        assert_eq!(open(&sealed.as_str().into(), Some(&k), "x").unwrap().expose(), "p@ss:w/rd é");
        // A value in the clear is used as it is, with or without a key.
        assert_eq!(open(&key("plain"), None, "x").unwrap().expose(), "plain");

        let wrong = open(&sealed.as_str().into(), Some(&key("another-key-of-at-least-32-characters!")), "email.smtp_password");
        assert!(wrong.unwrap_err().to_string().contains("email.smtp_password does not open with this secrets_key"));
        let missing = open(&sealed.as_str().into(), None, "email.smtp_password");
        assert!(missing.unwrap_err().to_string().contains("set secrets_key"));
        let altered = format!("{PREFIX}AAAA{}", &sealed[PREFIX.len() + 4..]);
        assert!(open(&altered.as_str().into(), Some(&k), "x").is_err());
    }

    #[test]
    fn the_command_seals_standard_input() {
        let config = Config { secrets_key: Some(key("a-secrets-key-of-at-least-32-characters")), ..Config::default() };
        let sealed = run(&config, "hunter2\n".as_bytes()).unwrap();
        assert_eq!(open(&sealed.as_str().into(), config.secrets_key.as_ref(), "x").unwrap().expose(), "hunter2");
        let sealed = run(&config, "with spaces \r\n".as_bytes()).unwrap();
        assert_eq!(open(&sealed.as_str().into(), config.secrets_key.as_ref(), "x").unwrap().expose(), "with spaces ");

        assert!(run(&config, "".as_bytes()).unwrap_err().to_string().contains("nothing to seal"));
        assert!(run(&config, sealed.as_bytes()).unwrap_err().to_string().contains("sealed already"));
        assert!(run(&Config::default(), "x".as_bytes()).unwrap_err().to_string().contains("needs secrets_key"));
        let short = Config { secrets_key: Some(key("short")), ..Config::default() };
        assert!(run(&short, "x".as_bytes()).unwrap_err().to_string().contains("at least 32"));
    }
}

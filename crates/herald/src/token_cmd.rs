//! `herald token`: mint a subscriber JWT.

use anyhow::Context;
use herald_core::claims::{HeraldClaims, SubscriberClaims};
use herald_core::keys::SigningAlg;
use herald_core::token::{SigningMaterial, mint};

use crate::cli::TokenArgs;

pub fn run(args: TokenArgs) -> anyhow::Result<String> {
    let alg: SigningAlg = args.alg.parse()?;
    let material = match (args.secret, args.private_key) {
        (Some(s), _) => SigningMaterial::Secret(s),
        (None, Some(path)) => {
            SigningMaterial::PrivatePem(std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?)
        }
        (None, None) => anyhow::bail!("give --secret or --private-key"),
    };
    if args.ttl <= 0 {
        anyhow::bail!("--ttl must be positive");
    }
    let claims = SubscriberClaims {
        sub: args.sub,
        exp: chrono::Utc::now().timestamp() + args.ttl,
        herald: HeraldClaims { subscribe: args.subscribe },
        extra: Default::default(),
    };
    Ok(mint(&args.kid, alg, &material, &claims)?)
}

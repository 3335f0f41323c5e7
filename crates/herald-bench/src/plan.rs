//! What a many-stream run (`fanout`, `storm`) connects to and publishes
//! through: a Herald node (its own fresh tenant, keys and token) or a peer
//! addressed by URL templates, such as Nchan or Pushpin.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use anyhow::{Context, bail};

use crate::api::{Api as AdminApi, bearer};
use crate::endpoint::Endpoint;
use crate::fanpub::{Api, PLACEHOLDER, Publisher, split_template};
use crate::setup;
use crate::subscriber::Spec;

/// Longest a single publish may take.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(10);

/// The command-line choices a plan is made from.
#[derive(Debug)]
pub struct Target {
    /// Herald mode: the node's base URL.
    pub url: Option<String>,
    pub operator_key: Option<String>,
    /// Template mode: stream and publish URLs naming `{channel}`.
    pub subscribe_template: Option<String>,
    pub publish_template: Option<String>,
    pub channels: u32,
    /// Source addresses 127.0.0.1 ..= 127.0.0.K (0: the kernel chooses).
    pub source_ips: u8,
    pub connect_timeout: u64,
    /// Lifetime of the subscribers' token (Herald mode).
    pub token_seconds: u64,
    /// Measured sequence numbers run `0..messages`.
    pub messages: u32,
}

/// What the subscribers connect to and the publisher publishes through.
pub struct Plan {
    /// `herald` or `template`.
    pub mode: &'static str,
    pub target: String,
    pub tenant: Option<String>,
    pub spec: Spec,
    pub publisher: Publisher,
}

/// Sets up the run: in Herald mode a tenant, a signing key and one token.
pub async fn plan(t: &Target, allow_remote: bool) -> anyhow::Result<Plan> {
    let sources: Vec<IpAddr> = (1..=t.source_ips).map(|i| IpAddr::V4(Ipv4Addr::new(127, 0, 0, i))).collect();
    let plan = match (&t.url, &t.subscribe_template, &t.publish_template) {
        (Some(url), None, None) => herald_plan(t, url, allow_remote, sources).await?,
        (None, Some(sub), Some(publ)) => template_plan(t, sub, publ, allow_remote, sources).await?,
        _ => bail!("give either --url, or both --subscribe-template and --publish-template"),
    };
    if !plan.spec.sources.is_empty() && !plan.spec.addr.ip().is_loopback() {
        bail!("--source-ips binds to 127.0.0.x, which only reaches loopback targets; pass --source-ips 0");
    }
    Ok(plan)
}

async fn herald_plan(t: &Target, url: &str, allow_remote: bool, sources: Vec<IpAddr>) -> anyhow::Result<Plan> {
    let endpoint = Endpoint::resolve(url, allow_remote).await?;
    let op = t.operator_key.as_deref().context("Herald mode needs --operator-key or HERALD_OPERATOR_KEY")?;
    let mut api = AdminApi::new(endpoint.clone());
    let tenant = setup::create_tenant(&mut api, op, "fanout").await?;
    let signing = setup::create_signing_key(&mut api, op, &tenant.id).await?;
    drop(api);
    let channels: Vec<String> = (0..t.channels).map(|c| format!("fanout.{c}")).collect();
    // One token for every subscriber: minting is not what is measured.
    let token = setup::subscriber_token(&signing, "herald-bench", &channels, t.token_seconds)?;
    println!("setup: tenant {} ({}) on {}", tenant.name, tenant.id, endpoint.url);
    let paths = channels
        .iter()
        .map(|ch| Ok(endpoint.uri(&format!("/v1/tenants/{}/stream?channel={ch}&access_token={token}", tenant.id))?.to_string()))
        .collect::<anyhow::Result<_>>()?;
    let spec = stream_spec(t, &endpoint, paths, sources);
    let api = Api::Herald { tenant: tenant.id.clone(), auth: bearer(&tenant.publish_key)? };
    Ok(Plan {
        mode: "herald",
        target: url.to_owned(),
        tenant: Some(tenant.id),
        spec,
        publisher: Publisher::new(endpoint, api, channels, PUBLISH_TIMEOUT),
    })
}

async fn template_plan(t: &Target, sub: &str, publ: &str, allow_remote: bool, sources: Vec<IpAddr>) -> anyhow::Result<Plan> {
    if t.channels > 1 && !(sub.contains(PLACEHOLDER) && publ.contains(PLACEHOLDER)) {
        bail!("with --channels above 1 both templates must name {PLACEHOLDER}");
    }
    let (sub_base, sub_rest) = split_template(sub)?;
    let (pub_base, pub_rest) = split_template(publ)?;
    let sub_ep = Endpoint::resolve(&sub_base, allow_remote).await?;
    let pub_ep = Endpoint::resolve(&pub_base, allow_remote).await?;
    // Fresh channel names, so nothing a peer kept from earlier runs arrives.
    let run = setup::run_name("fanout");
    let channels: Vec<String> = (0..t.channels).map(|c| format!("{run}-{c}")).collect();
    let paths = channels.iter().map(|ch| sub_rest.replace(PLACEHOLDER, ch)).collect();
    let uris = channels.iter().map(|ch| pub_ep.uri(&pub_rest.replace(PLACEHOLDER, ch))).collect::<anyhow::Result<_>>()?;
    println!("setup: channels {run}-0 .. {run}-{} via {sub} and {publ}", t.channels - 1);
    let spec = stream_spec(t, &sub_ep, paths, sources);
    Ok(Plan {
        mode: "template",
        target: sub.to_owned(),
        tenant: None,
        spec,
        publisher: Publisher::new(pub_ep, Api::Template { uris }, channels, PUBLISH_TIMEOUT),
    })
}

fn stream_spec(t: &Target, endpoint: &Endpoint, paths: Vec<String>, sources: Vec<IpAddr>) -> Spec {
    Spec {
        addr: endpoint.addr,
        host: endpoint.host.to_str().unwrap_or_default().to_owned(),
        paths,
        sources,
        connect_timeout: Duration::from_secs(t.connect_timeout),
        messages: u64::from(t.messages),
    }
}

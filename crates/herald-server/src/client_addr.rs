//! The client's address behind reverse proxies.
//!
//! Without `trusted_proxies`, the client is the TCP peer, whatever the
//! request's headers say: `Forwarded` and `X-Forwarded-For` are written by
//! whoever sends the request, so believing them would let any client pick
//! its own address (and escape the per-address connection limit).
//!
//! With it, a request whose TCP peer is in a trusted range is from a proxy
//! the operator runs: its forwarding header (`Forwarded`'s `for=`, RFC 7239,
//! or else `X-Forwarded-For`) lists the addresses the request passed
//! through, each appended by the next hop. Walking that list from the right,
//! every trusted address is one of the operator's proxies; the first one
//! that is not is the client (anything to its left was written by the
//! client itself, so it is not believed). A list of only trusted addresses
//! gives its leftmost one; an entry that is not an address (`unknown`, an
//! obfuscated `_name`) stops the walk at the trusted hop to its right.
//!
//! This address is the one the per-address connection limit counts, the
//! audit log records and the access log shows.

use std::net::{IpAddr, SocketAddr};

use actix_web::http::header::HeaderMap;
use actix_web::{HttpRequest, web};
use ipnet::IpNet;

/// The ranges (CIDRs) of the reverse proxies whose forwarding headers are
/// believed. Empty: none is.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses CIDRs (`10.0.0.0/8`, `2001:db8::/32`) or single addresses
    /// (`127.0.0.1`, taken as `/32` or `/128`); names the first bad entry.
    pub fn parse<S: AsRef<str>>(list: &[S]) -> Result<Self, String> {
        let mut nets = Vec::with_capacity(list.len());
        for raw in list {
            let raw = raw.as_ref().trim();
            let net = match raw.parse::<IpNet>() {
                Ok(net) => net,
                Err(_) => match raw.parse::<IpAddr>() {
                    Ok(ip) => IpNet::from(ip),
                    Err(_) => return Err(format!("`{raw}` is not a CIDR (like 10.0.0.0/8) or an IP address")),
                },
            };
            nets.push(net.trunc());
        }
        Ok(Self(nets))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client of a request from `peer` with these headers; see the
    /// module docs.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.trusts(peer) {
            return peer;
        }
        let hops = forwarded_for(headers).or_else(|| x_forwarded_for(headers)).unwrap_or_default();
        let mut client = peer;
        for hop in hops.iter().rev() {
            let Some(ip) = hop else { break };
            client = ip.to_canonical();
            if !self.trusts(client) {
                break;
            }
        }
        client
    }
}

/// The client address of `req`: the TCP peer, or, from a trusted proxy,
/// the address its forwarding header names (see the module docs).
pub(crate) fn client_ip(req: &HttpRequest) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip();
    Some(match req.app_data::<web::Data<TrustedProxies>>() {
        Some(proxies) => proxies.client(peer, req.headers()),
        None => peer.to_canonical(),
    })
}

/// The `for=` of every element of every `Forwarded` header, in order;
/// `None` without one. An entry that is not an address is `None`.
fn forwarded_for(headers: &HeaderMap) -> Option<Vec<Option<IpAddr>>> {
    let mut hops = Vec::new();
    let mut seen = false;
    for value in headers.get_all("forwarded") {
        seen = true;
        let Ok(value) = value.to_str() else { return Some(vec![None]) };
        for element in value.split(',') {
            let node = element.split(';').find_map(|pair| {
                let (name, value) = pair.split_once('=')?;
                name.trim().eq_ignore_ascii_case("for").then(|| value.trim())
            });
            // An element without `for=` says nothing about its sender.
            if let Some(node) = node {
                hops.push(node_ip(node));
            }
        }
    }
    (seen && !hops.is_empty()).then_some(hops)
}

/// The entries of every `X-Forwarded-For` header, in order; `None`
/// without one.
fn x_forwarded_for(headers: &HeaderMap) -> Option<Vec<Option<IpAddr>>> {
    let mut hops = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let Ok(value) = value.to_str() else { return Some(vec![None]) };
        hops.extend(value.split(',').map(|node| node_ip(node.trim())));
    }
    (!hops.is_empty()).then_some(hops)
}

/// An address as a forwarding header writes it: `192.0.2.1`,
/// `192.0.2.1:4711`, `[2001:db8::1]`, `"[2001:db8::1]:4711"` or a bare
/// IPv6 address. `unknown`, obfuscated names and garbage are `None`.
fn node_ip(node: &str) -> Option<IpAddr> {
    let node = node.trim().trim_matches('"');
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(addr) = node.parse::<SocketAddr>() {
        return Some(addr.ip());
    }
    let inner = node.strip_prefix('[')?.split(']').next()?;
    inner.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6)
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::{HeaderName, HeaderValue};

    use super::*;

    fn check(trusted: &[&str], peer: &str, headers: &[(&str, &str)], want: &str) {
        let proxies = TrustedProxies::parse(trusted).unwrap();
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(HeaderName::from_bytes(name.as_bytes()).unwrap(), HeaderValue::from_str(value).unwrap());
        }
        let got = proxies.client(peer.parse().unwrap(), &map);
        assert_eq!(got, want.parse::<IpAddr>().unwrap(), "trusted {trusted:?}, peer {peer}, headers {headers:?}");
    }

    #[test]
    fn without_trusted_proxies_the_headers_are_ignored() {
        check(&[], "203.0.113.9", &[("x-forwarded-for", "198.51.100.1")], "203.0.113.9");
        check(&[], "203.0.113.9", &[("forwarded", "for=198.51.100.1")], "203.0.113.9");
        // A peer outside the trusted ranges is not believed either.
        check(&["10.0.0.0/8"], "203.0.113.9", &[("x-forwarded-for", "198.51.100.1")], "203.0.113.9");
    }

    #[test]
    fn the_rightmost_untrusted_address_is_the_client() {
        check(&["10.0.0.0/8"], "10.0.0.2", &[("x-forwarded-for", "198.51.100.1")], "198.51.100.1");
        // The client wrote the leftmost entry itself: not believed.
        check(&["10.0.0.0/8"], "10.0.0.2", &[("x-forwarded-for", "1.2.3.4, 198.51.100.1, 10.0.0.7")], "198.51.100.1");
        // Several headers are one list, in order.
        check(&["10.0.0.0/8"], "10.0.0.2", &[("x-forwarded-for", "1.2.3.4"), ("x-forwarded-for", "198.51.100.1")], "198.51.100.1");
        // Only proxies: the leftmost.
        check(&["10.0.0.0/8"], "10.0.0.2", &[("x-forwarded-for", "10.0.0.9, 10.0.0.7")], "10.0.0.9");
        // No header from a trusted proxy: the proxy itself.
        check(&["10.0.0.0/8"], "10.0.0.2", &[], "10.0.0.2");
    }

    #[test]
    fn forwarded_is_read_per_rfc_7239_and_wins() {
        check(
            &["127.0.0.1"],
            "127.0.0.1",
            &[("forwarded", "for=192.0.2.60;proto=http;by=203.0.113.43"), ("x-forwarded-for", "198.51.100.1")],
            "192.0.2.60",
        );
        check(&["127.0.0.1/32"], "127.0.0.1", &[("forwarded", r#"for="[2001:db8:cafe::17]:4711""#)], "2001:db8:cafe::17");
        check(&["127.0.0.1/32"], "127.0.0.1", &[("forwarded", r#"For="192.0.2.43:47011", for=198.51.100.17"#)], "198.51.100.17");
        // `unknown` stops the walk at the trusted hop to its right.
        check(&["10.0.0.0/8"], "10.0.0.2", &[("forwarded", "for=192.0.2.1, for=unknown, for=10.0.0.5")], "10.0.0.5");
        // Elements without `for=` fall back to X-Forwarded-For.
        check(&["10.0.0.0/8"], "10.0.0.2", &[("forwarded", "proto=https"), ("x-forwarded-for", "198.51.100.1")], "198.51.100.1");
    }

    #[test]
    fn addresses_are_compared_canonically() {
        check(&["127.0.0.1/32"], "::ffff:127.0.0.1", &[("x-forwarded-for", "::ffff:198.51.100.1")], "198.51.100.1");
        check(&["2001:db8::/48"], "2001:db8::1", &[("x-forwarded-for", "[2001:db8:1::1]:80, 2001:db8::2")], "2001:db8:1::1");
    }

    #[test]
    fn parse_names_the_bad_entry() {
        assert!(TrustedProxies::parse(&["10.0.0.0/8", " 127.0.0.1 ", "::1", "fd00::/8"]).is_ok());
        let err = TrustedProxies::parse(&["10.0.0.0/8", "proxy.local"]).unwrap_err();
        assert!(err.contains("proxy.local"), "{err}");
        assert!(TrustedProxies::parse(&["10.0.0.0/33"]).is_err());
    }
}

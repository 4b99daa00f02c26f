//! The client's address, for per-address login throttling.
//!
//! `X-Forwarded-For` is written by whoever sends the request, so only the entries appended by
//! proxies we run can be believed: with `TRUSTED_PROXY_HOPS = N` the client is the N-th address
//! from the right (each trusted proxy appends the address it saw). With 0 (the default) the
//! header is ignored and the TCP peer is the client. A header with fewer entries than N did not
//! come through all our proxies, and an entry that is not an IP address is not a proxy's
//! writing: both fall back to the peer. The result is a parsed `IpAddr`, so what becomes a
//! throttle key is bounded whatever the header holds.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;

pub fn client_ip(
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
    trusted_hops: usize,
) -> Option<IpAddr> {
    let peer_ip = peer.map(|p| p.ip());
    if trusted_hops == 0 {
        return peer_ip;
    }
    // Several `X-Forwarded-For` headers are one list, in order (RFC 7230 §3.2.2).
    let mut entries: Vec<&str> = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let Ok(value) = value.to_str() else {
            return peer_ip;
        };
        entries.extend(value.split(',').map(str::trim));
    }
    let Some(index) = entries.len().checked_sub(trusted_hops) else {
        return peer_ip;
    };
    entries
        .get(index)
        .and_then(|entry| parse_entry(entry))
        .or(peer_ip)
}

/// An address as proxies write it: `1.2.3.4`, `2001:db8::1`, or with a port
/// (`1.2.3.4:5678`, `[2001:db8::1]:5678`).
fn parse_entry(entry: &str) -> Option<IpAddr> {
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nth_from_the_right() {
        let peer: SocketAddr = "10.9.9.9:4000".parse().expect("addr");
        for (hops, xff, expected) in [
            (0, Some("1.1.1.1"), "10.9.9.9"),
            (1, None, "10.9.9.9"),
            (1, Some("1.1.1.1"), "1.1.1.1"),
            (1, Some("6.6.6.6, 1.1.1.1"), "1.1.1.1"),
            (2, Some("6.6.6.6, 1.1.1.1, 10.0.0.2"), "1.1.1.1"),
            (2, Some("1.1.1.1"), "10.9.9.9"),
            (1, Some("not-an-ip"), "10.9.9.9"),
            (1, Some("[2001:db8::1]:443"), "2001:db8::1"),
        ] {
            let mut headers = HeaderMap::new();
            if let Some(xff) = xff {
                headers.insert("x-forwarded-for", xff.parse().expect("header"));
            }
            let got = client_ip(&headers, Some(peer), hops).map(|ip| ip.to_string());
            assert_eq!(got.as_deref(), Some(expected), "{hops} {xff:?}");
        }
    }
}

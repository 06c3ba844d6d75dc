//! `allowed_outbound_hosts`: which addresses a component may reach, in Spin's syntax.
//!
//! Each rule is `scheme://host[:port]`: the scheme a name or `*`; the host a name, `*`,
//! `*.domain` (any subdomain), an IP address or an IPv4/IPv6 CIDR range; the port a number or
//! `*`, and when absent the scheme's well-known port (a `*` scheme needs one). `{{ variable }}`
//! templates are rendered when the app loads. Raw TCP (`wasi:sockets`) is allowed only by rules
//! whose scheme is `*`, as in Spin.

use std::net::{IpAddr, SocketAddr};

/// One component's rules, parsed once at load time.
#[derive(Clone, Debug, Default)]
pub struct OutboundPolicy {
    rules: Vec<Rule>,
}

#[derive(Clone, Debug, PartialEq)]
struct Rule {
    /// `None`: any scheme.
    scheme: Option<String>,
    host: HostPattern,
    /// `None`: any port.
    port: Option<u16>,
}

#[derive(Clone, Debug, PartialEq)]
enum HostPattern {
    Any,
    /// `*.example.com`: the suffix `.example.com`.
    Subdomains(String),
    Name(String),
    Cidr(IpAddr, u8),
}

fn default_port(scheme: &str) -> Option<u16> {
    Some(match scheme {
        "http" => 80,
        "https" => 443,
        "redis" => 6379,
        "mqtt" => 1883,
        "postgres" => 5432,
        "mysql" => 3306,
        _ => return None,
    })
}

impl OutboundPolicy {
    /// Parses already-rendered rules; an error names the rule and what is wrong with it.
    pub fn parse<'a>(rules: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        let rules = rules
            .into_iter()
            .map(|r| parse_rule(r).map_err(|e| format!("allowed_outbound_hosts '{r}': {e}")))
            .collect::<Result<_, _>>()?;
        Ok(Self { rules })
    }

    /// No rule at all: the component may not reach anything.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// May the component reach `host:port` with `scheme` (a URL it was given)?
    pub fn allows(&self, scheme: &str, host: &str, port: Option<u16>) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let Some(port) = port.or_else(|| default_port(scheme)) else {
            return false;
        };
        self.rules.iter().any(|rule| {
            rule.scheme.as_deref().is_none_or(|s| s == scheme)
                && rule.port.is_none_or(|p| p == port)
                && rule.host.matches_name(host)
        })
    }

    /// May the component open a TCP connection to `addr` (only `*://` rules grant that)?
    pub fn allows_socket(&self, addr: SocketAddr) -> bool {
        self.rules.iter().any(|rule| {
            rule.scheme.is_none()
                && rule.port.is_none_or(|p| p == addr.port())
                && rule.host.matches_ip(addr.ip())
        })
    }

    /// Parses and checks a URL a guest gave a host interface (`redis://host:port/...`).
    pub fn allows_url(&self, url: &str) -> bool {
        let Some((scheme, rest)) = url.split_once("://") else {
            return false;
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
        match split_host_port(authority) {
            Ok((host, port)) => self.allows(scheme, host, port),
            Err(_) => false,
        }
    }
}

impl HostPattern {
    fn matches_name(&self, host: &str) -> bool {
        match self {
            HostPattern::Any => true,
            HostPattern::Subdomains(suffix) => {
                host.len() > suffix.len() && host.to_ascii_lowercase().ends_with(suffix.as_str())
            }
            HostPattern::Name(name) => host.eq_ignore_ascii_case(name),
            HostPattern::Cidr(..) => host.parse().is_ok_and(|ip| self.matches_ip(ip)),
        }
    }

    fn matches_ip(&self, ip: IpAddr) -> bool {
        match self {
            HostPattern::Any => true,
            HostPattern::Subdomains(_) => false,
            // The loopback name stands for the loopback addresses; other names cannot be
            // matched against an address without resolving them.
            HostPattern::Name(name) => name == "localhost" && ip.is_loopback(),
            HostPattern::Cidr(net, len) => in_cidr(ip, *net, *len),
        }
    }
}

fn in_cidr(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

fn parse_rule(rule: &str) -> Result<Rule, String> {
    let (scheme, rest) = rule
        .split_once("://")
        .ok_or("must start with a scheme, e.g. 'https://' or '*://'")?;
    if rest.contains('/') && !looks_like_cidr(rest) {
        return Err("must not have a path".into());
    }
    let scheme = match scheme {
        "*" => None,
        s if !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) =>
        {
            Some(s.to_ascii_lowercase())
        }
        _ => return Err(format!("'{scheme}' is not a scheme")),
    };
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(':') && !port.contains(']') => (host, Some(port)),
        _ => (rest, None),
    };
    let port = match port {
        Some("*") => None,
        Some(p) => Some(
            p.parse::<u16>()
                .map_err(|_| format!("'{p}' is not a port (a number or '*')"))?,
        ),
        None => Some(
            scheme
                .as_deref()
                .and_then(default_port)
                .ok_or("needs a port: its scheme has no well-known one")?,
        ),
    };
    Ok(Rule {
        scheme,
        host: parse_host(host)?,
        port,
    })
}

fn looks_like_cidr(rest: &str) -> bool {
    rest.split_once('/')
        .is_some_and(|(_, len)| len.chars().next().is_some_and(|c| c.is_ascii_digit()))
}

fn parse_host(host: &str) -> Result<HostPattern, String> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host == "*" {
        return Ok(HostPattern::Any);
    }
    if let Some(domain) = host.strip_prefix("*.") {
        return Ok(HostPattern::Subdomains(format!(
            ".{}",
            domain.to_ascii_lowercase()
        )));
    }
    if let Some((ip, len)) = host.split_once('/') {
        let ip: IpAddr = ip
            .parse()
            .map_err(|_| format!("'{ip}' is not an IP address"))?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let len: u8 = len
            .parse()
            .ok()
            .filter(|l| *l <= max)
            .ok_or_else(|| format!("'/{len}' is not a prefix length"))?;
        return Ok(HostPattern::Cidr(ip, len));
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        let len = if ip.is_ipv4() { 32 } else { 128 };
        return Ok(HostPattern::Cidr(ip, len));
    }
    if host.is_empty() || host.contains('*') || host.contains(char::is_whitespace) {
        return Err(format!("'{host}' is not a host name"));
    }
    Ok(HostPattern::Name(host.to_ascii_lowercase()))
}

/// `host[:port]`, IPv6 in brackets.
fn split_host_port(authority: &str) -> Result<(&str, Option<u16>), ()> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or(())?;
        (host, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let port = port.map(|p| p.parse().map_err(|_| ())).transpose()?;
    Ok((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(rules: &[&str]) -> OutboundPolicy {
        OutboundPolicy::parse(rules.iter().copied()).unwrap()
    }

    #[test]
    fn schemes_hosts_and_default_ports() {
        let p = policy(&["https://example.com", "redis://localhost"]);
        assert!(p.allows("https", "example.com", None));
        assert!(p.allows("https", "EXAMPLE.com", Some(443)));
        assert!(!p.allows("https", "example.com", Some(8443)));
        assert!(!p.allows("http", "example.com", None));
        assert!(!p.allows("https", "sub.example.com", None));
        assert!(p.allows_url("redis://localhost:6379/0"));
        assert!(!p.allows_url("redis://localhost:6380"));
    }

    #[test]
    fn wildcards_subdomains_and_ports() {
        let p = policy(&["*://*.example.com:*", "http://*:8080"]);
        assert!(p.allows("https", "api.example.com", Some(1)));
        assert!(!p.allows("https", "example.com", None));
        assert!(p.allows("http", "anything", Some(8080)));
        assert!(!p.allows("https", "anything", Some(8080)));
    }

    #[test]
    fn sockets_need_a_star_scheme_and_match_cidrs() {
        let p = policy(&["*://127.0.0.0/24:7", "redis://10.0.0.1:6379"]);
        assert!(p.allows_socket("127.0.0.1:7".parse().unwrap()));
        assert!(!p.allows_socket("127.0.0.1:8".parse().unwrap()));
        assert!(!p.allows_socket("127.0.1.1:7".parse().unwrap()));
        assert!(!p.allows_socket("10.0.0.1:6379".parse().unwrap()));
        let p = policy(&["*://localhost:7", "*://[::1]:9"]);
        assert!(p.allows_socket("127.0.0.1:7".parse().unwrap()));
        assert!(p.allows_socket("[::1]:9".parse().unwrap()));
    }

    #[test]
    fn bad_rules_are_named() {
        for (rule, why) in [
            ("example.com", "must start with a scheme"),
            ("*://example.com", "needs a port"),
            ("https://example.com/path", "must not have a path"),
            ("https://example.com:http", "is not a port"),
            ("*://10.0.0.0/33:1", "is not a prefix length"),
            ("https://ex*ample.com", "is not a host name"),
        ] {
            let err = OutboundPolicy::parse([rule]).unwrap_err();
            assert!(err.contains(rule) && err.contains(why), "{rule}: {err}");
        }
    }
}

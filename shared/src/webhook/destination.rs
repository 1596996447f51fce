//! Where a webhook may go. A `callback_url` is chosen by the client but fetched from inside
//! the deployment, so an unchecked one would let any client make the service call its own
//! metadata endpoint or private network (server-side request forgery).
//!
//! The rules: `https` only, no credentials in the URL, and no address outside the public
//! internet (loopback, private, link-local, CGNAT, multicast, unspecified, documentation and
//! cloud metadata ranges). Submit refuses what it can see (IP literals, names that resolve
//! to such addresses); delivery checks every resolved address again and connects only to the
//! ones it checked, so a name that changes its answer (DNS rebinding) gains nothing.
//!
//! [`DestinationPolicy::insecure`] lifts the rules for local development against a receiver
//! on the same machine; nothing on AWS sets it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

pub const MAX_CALLBACK_URL_LEN: usize = 2048;
/// A slow name server (perhaps the client's own) may not hold a submission up longer.
pub const SUBMIT_LOOKUP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DestinationPolicy {
    /// Allows `http` and non-public addresses. Development only.
    pub insecure: bool,
}

/// Why a destination is refused; the message is shown to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DestinationError {
    #[error("must be at most 2048 characters")]
    TooLong,
    #[error("must be an absolute URL")]
    NotAbsolute,
    #[error("must use https")]
    NotHttps,
    #[error("must name a host")]
    NoHost,
    #[error("must not contain credentials")]
    Credentials,
    #[error("must not point at a loopback, private, link-local or metadata address")]
    NonPublicAddress,
}

impl DestinationPolicy {
    pub const STRICT: Self = Self { insecure: false };
    pub const INSECURE: Self = Self { insecure: true };

    /// The checks that need no DNS: syntax, scheme, credentials, and IP literals.
    pub fn check_url(&self, raw: &str) -> Result<Url, DestinationError> {
        if raw.len() > MAX_CALLBACK_URL_LEN {
            return Err(DestinationError::TooLong);
        }
        let url = Url::parse(raw).map_err(|_| DestinationError::NotAbsolute)?;
        match url.scheme() {
            "https" => {}
            "http" if self.insecure => {}
            _ => return Err(DestinationError::NotHttps),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(DestinationError::Credentials);
        }
        match url.host() {
            None => return Err(DestinationError::NoHost),
            Some(Host::Domain("")) => return Err(DestinationError::NoHost),
            Some(Host::Ipv4(ip)) => self.check_address(IpAddr::V4(ip))?,
            Some(Host::Ipv6(ip)) => self.check_address(IpAddr::V6(ip))?,
            Some(Host::Domain(_)) => {}
        }
        Ok(url)
    }

    pub fn check_address(&self, ip: IpAddr) -> Result<(), DestinationError> {
        if self.insecure || is_public(ip) {
            Ok(())
        } else {
            Err(DestinationError::NonPublicAddress)
        }
    }

    /// [`Self::check_url`], then every address the host resolves to. A name that does not
    /// resolve now, or not within [`SUBMIT_LOOKUP_TIMEOUT`], is accepted (delivery checks
    /// again); one that resolves to any non-public address is refused.
    pub async fn check_url_resolved(&self, raw: &str) -> Result<Url, DestinationError> {
        let url = self.check_url(raw)?;
        if let (Some(Host::Domain(name)), false) = (url.host(), self.insecure) {
            let port = url.port_or_known_default().unwrap_or(443);
            let lookup = tokio::net::lookup_host((name, port));
            if let Ok(Ok(addresses)) = tokio::time::timeout(SUBMIT_LOOKUP_TIMEOUT, lookup).await {
                for address in addresses {
                    self.check_address(address.ip())?;
                }
            }
        }
        Ok(url)
    }
}

/// Whether `ip` is an ordinary address on the public internet.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let refused = a == 0                            // "this network", 0.0.0.0
        || a == 10                                  // private
        || a == 127                                 // loopback
        || (a == 100 && (64..128).contains(&b))     // CGNAT 100.64/10
        || (a == 169 && b == 254)                   // link-local, incl. 169.254.169.254
        || (a == 172 && (16..32).contains(&b))      // private
        || (a == 192 && b == 0 && c == 0)           // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2)           // TEST-NET-1
        || (a == 192 && b == 168)                   // private
        || (a == 198 && (b == 18 || b == 19))       // benchmarking
        || (a == 198 && b == 51 && c == 100)        // TEST-NET-2
        || (a == 203 && b == 0 && c == 113)         // TEST-NET-3
        || a >= 224; // multicast, reserved, broadcast
    !refused
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    // Addresses that carry an IPv4 address are judged by it.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let s = ip.segments();
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        // NAT64 (64:ff9b::/96): the last 32 bits are the IPv4 destination.
        let [.., hi, lo] = s;
        return is_public_v4(Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo)));
    }
    let refused = ip.is_unspecified()
        || ip.is_loopback()
        || s[0..6] == [0, 0, 0, 0, 0, 0]   // IPv4-compatible (deprecated)
        || s[0] & 0xfe00 == 0xfc00         // unique local fc00::/7, incl. fd00:ec2::254
        || s[0] & 0xffc0 == 0xfe80         // link-local fe80::/10
        || s[0] & 0xff00 == 0xff00         // multicast
        || (s[0] == 0x2001 && s[1] == 0xdb8) // documentation
        || (s[0] == 0x100 && s[1..4] == [0, 0, 0]); // discard-only 100::/64
    !refused
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(raw: &str) -> Option<DestinationError> {
        DestinationPolicy::STRICT.check_url(raw).err()
    }

    #[test]
    fn public_https_urls_pass() {
        for ok in [
            "https://example.com/hook",
            "https://93.184.215.14:8443/h?x=1",
            "https://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]/h",
        ] {
            assert_eq!(refused(ok), None, "{ok}");
        }
    }

    #[test]
    fn every_non_public_range_is_refused() {
        for bad in [
            "https://127.0.0.1/",
            "https://127.1.2.3/",
            "https://0.0.0.0/",
            "https://10.1.2.3/",
            "https://172.16.0.1/",
            "https://172.31.255.255/",
            "https://192.168.1.1/",
            "https://100.64.0.1/",
            "https://169.254.169.254/latest/meta-data/",
            "https://224.0.0.1/",
            "https://255.255.255.255/",
            "https://[::1]/",
            "https://[::]/",
            "https://[fd00:ec2::254]/",
            "https://[fe80::1]/",
            "https://[ff02::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://[::ffff:169.254.169.254]/",
            "https://[64:ff9b::a9fe:a9fe]/",
            "https://[2001:db8::1]/",
            // Spellings the URL parser normalises to loopback.
            "https://2130706433/",
            "https://0x7f.1/",
        ] {
            assert_eq!(
                refused(bad),
                Some(DestinationError::NonPublicAddress),
                "{bad}"
            );
        }
        assert!(is_public("172.32.0.1".parse().unwrap()));
        assert!(is_public("100.128.0.1".parse().unwrap()));
    }

    #[test]
    fn syntax_scheme_and_credentials() {
        assert_eq!(refused("not a url"), Some(DestinationError::NotAbsolute));
        assert_eq!(
            refused("http://example.com/"),
            Some(DestinationError::NotHttps)
        );
        assert_eq!(
            refused("ftp://example.com/"),
            Some(DestinationError::NotHttps)
        );
        assert_eq!(
            refused("https://user:pw@example.com/"),
            Some(DestinationError::Credentials)
        );
        let long = format!("https://example.com/{}", "a".repeat(MAX_CALLBACK_URL_LEN));
        assert_eq!(refused(&long), Some(DestinationError::TooLong));
    }

    #[test]
    fn the_development_policy_allows_a_local_receiver() {
        let dev = DestinationPolicy::INSECURE;
        assert!(dev.check_url("http://127.0.0.1:8081/hook").is_ok());
        assert_eq!(
            dev.check_url("ftp://127.0.0.1/").err(),
            Some(DestinationError::NotHttps)
        );
    }

    #[tokio::test]
    async fn names_resolving_to_loopback_are_refused_at_submit() {
        assert_eq!(
            DestinationPolicy::STRICT
                .check_url_resolved("https://localhost:9/hook")
                .await
                .err(),
            Some(DestinationError::NonPublicAddress)
        );
    }
}

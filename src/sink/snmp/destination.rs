//! Where notifications go: net-snmp style transport addresses (`udp:HOST:PORT`, `HOST:PORT`,
//! `udp6:[::1]:PORT`; port 162 when omitted).

use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::str::FromStr;
use std::sync::Arc;

/// The port managers listen on for notifications (RFC 3417 §3: `snmpTrap`).
pub const DEFAULT_PORT: u16 = 162;

/// net-snmp transport names that monbridge does not speak, recognised so that the error says
/// "not supported" instead of "bad host".
const OTHER_TRANSPORTS: [&str; 12] = [
    "tcp", "tcp6", "tcpv6", "tcpipv6", "unix", "tls", "tlstcp", "dtls", "dtlsudp", "ssh", "ipx",
    "alias",
];

/// A manager address as given on the command line, parsed but not yet resolved.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Destination {
    /// Shared: every delivery report names its destination.
    host: Arc<str>,
    port: u16,
    /// `udp6:` asks for IPv6 when the host is a name.
    ipv6: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DestinationError {
    #[error("empty destination (expected udp:HOST:PORT)")]
    Empty,
    #[error(
        "transport {transport:?} in {text:?} is not supported: monbridge sends over UDP \
         (udp:HOST:PORT or udp6:[ADDRESS]:PORT)"
    )]
    Transport { text: String, transport: String },
    #[error("no host in {0:?} (expected udp:HOST:PORT)")]
    NoHost(String),
    #[error("port {port:?} in {text:?} is not a number from 1 to 65535")]
    Port { text: String, port: String },
    #[error("{0:?}: an IPv6 address with a port needs brackets, as in udp6:[::1]:162")]
    Brackets(String),
    #[error("{0:?}: a host name cannot contain spaces or brackets")]
    Host(String),
    #[error("cannot resolve {destination}: {reason}")]
    Resolve { destination: String, reason: String },
}

impl Destination {
    pub fn new(host: &str, port: u16) -> Destination {
        Destination {
            host: host.into(),
            ipv6: host.parse::<Ipv6Addr>().is_ok(),
            port,
        }
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The socket address to send to: an IP literal as is, a name through the system
    /// resolver (IPv4 first for `udp:`, IPv6 for `udp6:`).
    pub fn resolve(&self) -> Result<SocketAddr, DestinationError> {
        if let Ok(ip) = self.host.parse::<IpAddr>() {
            return Ok(SocketAddr::new(ip, self.port));
        }
        let failed = |reason: String| DestinationError::Resolve {
            destination: self.to_string(),
            reason,
        };
        let addresses: Vec<SocketAddr> = (&*self.host, self.port)
            .to_socket_addrs()
            .map_err(|e| failed(e.to_string()))?
            .collect();
        addresses
            .iter()
            .find(|address| address.is_ipv6() == self.ipv6)
            .or_else(|| addresses.first())
            .copied()
            .ok_or_else(|| failed("the name has no address".into()))
    }
}

impl FromStr for Destination {
    type Err = DestinationError;

    fn from_str(text: &str) -> Result<Destination, DestinationError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(DestinationError::Empty);
        }
        let (ipv6_transport, address) = match text.split_once(':') {
            Some((prefix, rest)) => match prefix.to_ascii_lowercase().as_str() {
                "udp" => (false, rest),
                "udp6" | "udpv6" | "udpipv6" => (true, rest),
                other if OTHER_TRANSPORTS.contains(&other) => {
                    return Err(DestinationError::Transport {
                        text: text.to_owned(),
                        transport: prefix.to_owned(),
                    });
                }
                _ => (false, text),
            },
            None => (false, text),
        };
        let (host, port) = split_host_port(text, address)?;
        if host.is_empty() {
            return Err(DestinationError::NoHost(text.to_owned()));
        }
        if host.contains(|c: char| c.is_whitespace() || c == '[' || c == ']') {
            return Err(DestinationError::Host(text.to_owned()));
        }
        let port = match port {
            None => DEFAULT_PORT,
            Some(port) => match port.parse::<u16>() {
                Ok(number) if number > 0 && port.bytes().all(|b| b.is_ascii_digit()) => number,
                _ => {
                    return Err(DestinationError::Port {
                        text: text.to_owned(),
                        port: port.to_owned(),
                    });
                }
            },
        };
        Ok(Destination {
            host: host.into(),
            port,
            ipv6: ipv6_transport || host.parse::<Ipv6Addr>().is_ok(),
        })
    }
}

/// Splits `HOST[:PORT]`, `[V6ADDR][:PORT]` or a bare IPv6 address.
fn split_host_port<'a>(
    text: &str,
    address: &'a str,
) -> Result<(&'a str, Option<&'a str>), DestinationError> {
    if let Some(bracketed) = address.strip_prefix('[') {
        let Some((host, after)) = bracketed.split_once(']') else {
            return Err(DestinationError::Host(text.to_owned()));
        };
        return match after {
            "" => Ok((host, None)),
            _ => match after.strip_prefix(':') {
                Some(port) => Ok((host, Some(port))),
                None => Err(DestinationError::Host(text.to_owned())),
            },
        };
    }
    if address.parse::<Ipv6Addr>().is_ok() {
        return Ok((address, None));
    }
    match address.rsplit_once(':') {
        Some((host, _)) if host.contains(':') => Err(DestinationError::Brackets(text.to_owned())),
        Some((host, port)) => Ok((host, Some(port))),
        None => Ok((address, None)),
    }
}

impl fmt::Display for Destination {
    /// The canonical form, e.g. `udp:127.0.0.1:162` or `udp6:[::1]:162`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ipv6 {
            if self.host.contains(':') {
                write!(f, "udp6:[{}]:{}", self.host, self.port)
            } else {
                write!(f, "udp6:{}:{}", self.host, self.port)
            }
        } else {
            write!(f, "udp:{}:{}", self.host, self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<String, DestinationError> {
        text.parse::<Destination>().map(|d| d.to_string())
    }

    #[test]
    fn accepted_forms() {
        assert_eq!(parse("udp:127.0.0.1:16162").unwrap(), "udp:127.0.0.1:16162");
        assert_eq!(
            parse("UDP:manager.example").unwrap(),
            "udp:manager.example:162"
        );
        assert_eq!(parse("10.0.0.1:1162").unwrap(), "udp:10.0.0.1:1162");
        assert_eq!(parse("localhost").unwrap(), "udp:localhost:162");
        assert_eq!(parse("udp6:[::1]:1162").unwrap(), "udp6:[::1]:1162");
        assert_eq!(parse("udp6:[::1]").unwrap(), "udp6:[::1]:162");
        assert_eq!(parse("udp6:::1").unwrap(), "udp6:[::1]:162");
        assert_eq!(parse("[fe80::1]:5000").unwrap(), "udp6:[fe80::1]:5000");
        assert_eq!(parse("udp6:manager:163").unwrap(), "udp6:manager:163");
        assert_eq!(parse("  udp:h:9 ").unwrap(), "udp:h:9");
    }

    #[test]
    fn rejected_forms_say_why() {
        assert_eq!(parse(""), Err(DestinationError::Empty));
        assert!(matches!(
            parse("tcp:host:162"),
            Err(DestinationError::Transport { .. })
        ));
        assert!(matches!(parse("udp:"), Err(DestinationError::NoHost(_))));
        assert!(matches!(
            parse("udp::162"),
            Err(DestinationError::NoHost(_))
        ));
        assert!(matches!(
            parse("udp:host:0"),
            Err(DestinationError::Port { .. })
        ));
        assert!(matches!(
            parse("udp:host:70000"),
            Err(DestinationError::Port { .. })
        ));
        assert!(matches!(
            parse("udp:host:+5"),
            Err(DestinationError::Port { .. })
        ));
        assert!(matches!(
            parse("udp:host:"),
            Err(DestinationError::Port { .. })
        ));
        assert!(matches!(
            parse("host:abc"),
            Err(DestinationError::Port { .. })
        ));
        assert!(matches!(
            parse("udp6:fe80::1:zz:162"),
            Err(DestinationError::Brackets(_))
        ));
        assert!(matches!(parse("udp6:[::1"), Err(DestinationError::Host(_))));
        assert!(matches!(
            parse("udp6:[::1]x"),
            Err(DestinationError::Host(_))
        ));
        assert!(matches!(
            parse("udp:my host:162"),
            Err(DestinationError::Host(_))
        ));
        assert_eq!(
            parse("tcp:host:162").unwrap_err().to_string(),
            "transport \"tcp\" in \"tcp:host:162\" is not supported: monbridge sends over UDP \
             (udp:HOST:PORT or udp6:[ADDRESS]:PORT)"
        );
    }

    #[test]
    fn literals_resolve_without_the_resolver() {
        let v4: Destination = "udp:127.0.0.1:1162".parse().unwrap();
        assert_eq!(v4.resolve().unwrap(), "127.0.0.1:1162".parse().unwrap());
        let v6: Destination = "udp6:[::1]:1162".parse().unwrap();
        assert_eq!(v6.resolve().unwrap(), "[::1]:1162".parse().unwrap());
    }
}

//! The sender's UDP side: one socket for every destination, the addresses it sends to and
//! sees answers come from, and waiting for datagrams until a deadline.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use super::{DeliveryError, SenderError};
use crate::sink::snmp::Destination;

/// Largest datagram read while waiting for answers (the UDP maximum).
const MAX_DATAGRAM: usize = 65_535;

struct Target {
    destination: Destination,
    /// The address as the socket sends to it and sees answers come from.
    address: SocketAddr,
}

/// The socket and the destinations, in the order they were given.
pub(super) struct Link {
    targets: Vec<Target>,
    socket: UdpSocket,
    inbox: Vec<u8>,
}

impl Link {
    /// Opens the socket for destinations already resolved.
    pub(super) fn open(resolved: Vec<(Destination, SocketAddr)>) -> Result<Link, SenderError> {
        // One socket for every destination; an IPv6 one (dual-stack) only when needed, since
        // some hosts have IPv6 disabled.
        let dual_stack = resolved.iter().any(|(_, address)| address.is_ipv6());
        let bind = if dual_stack {
            SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0)
        } else {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0)
        };
        let socket =
            UdpSocket::bind(bind).map_err(|source| SenderError::Socket { bind, source })?;
        let targets = resolved
            .into_iter()
            .map(|(destination, address)| Target {
                destination,
                address: if dual_stack {
                    to_ipv6(address)
                } else {
                    address
                },
            })
            .collect();
        Ok(Link {
            targets,
            socket,
            inbox: vec![0; MAX_DATAGRAM],
        })
    }

    pub(super) fn len(&self) -> usize {
        self.targets.len()
    }

    pub(super) fn destination(&self, target: usize) -> &Destination {
        &self.targets[target].destination
    }

    pub(super) fn destinations(&self) -> impl Iterator<Item = &Destination> {
        self.targets.iter().map(|target| &target.destination)
    }

    /// Whether a datagram from `from` comes from destination `target`.
    pub(super) fn is_from(&self, target: usize, from: SocketAddr) -> bool {
        same_endpoint(self.targets[target].address, from)
    }

    /// The address the socket sends from.
    pub(super) fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    pub(super) fn send(&self, target: usize, message: &[u8]) -> Result<(), DeliveryError> {
        let address = self.targets[target].address;
        match self.socket.send_to(message, address) {
            Ok(sent) if sent == message.len() => Ok(()),
            Ok(sent) => Err(DeliveryError::Send {
                address,
                reason: format!("only {sent} of {} bytes sent", message.len()),
            }),
            Err(error) => Err(DeliveryError::Send {
                address,
                reason: error.to_string(),
            }),
        }
    }

    /// Sends `messages` to destination `target`, in order: one result per message.
    /// Linux sends them with `sendmmsg`, a system call per 1,024 messages.
    pub(super) fn send_many(
        &self,
        target: usize,
        messages: &[&[u8]],
    ) -> Vec<Result<(), DeliveryError>> {
        #[cfg(target_os = "linux")]
        {
            self.send_many_linux(target, messages)
        }
        #[cfg(not(target_os = "linux"))]
        {
            messages
                .iter()
                .map(|message| self.send(target, message))
                .collect()
        }
    }

    #[cfg(target_os = "linux")]
    fn send_many_linux(&self, target: usize, messages: &[&[u8]]) -> Vec<Result<(), DeliveryError>> {
        use rustix::io::Errno;
        use rustix::net::addr::SocketAddrArg;
        use rustix::net::{MMsgHdr, SendAncillaryBuffer, SendFlags, sendmmsg};
        use std::io::IoSlice;

        /// The kernel's limit on messages per call (UIO_MAXIOV).
        const MAX_PER_CALL: usize = 1024;
        let address = self.targets[target].address;
        let any = address.as_any();
        let mut results = Vec::with_capacity(messages.len());
        while results.len() < messages.len() {
            let pending = &messages[results.len()..];
            let pending = &pending[..pending.len().min(MAX_PER_CALL)];
            let slices: Vec<IoSlice<'_>> = pending.iter().map(|m| IoSlice::new(m)).collect();
            let mut controls: Vec<SendAncillaryBuffer<'_, '_, '_>> = slices
                .iter()
                .map(|_| SendAncillaryBuffer::default())
                .collect();
            let mut headers: Vec<MMsgHdr<'_>> = slices
                .iter()
                .zip(controls.iter_mut())
                .map(|(slice, control)| {
                    MMsgHdr::new_with_addr(&any, std::slice::from_ref(slice), control)
                })
                .collect();
            match sendmmsg(&self.socket, &mut headers, SendFlags::empty()) {
                Ok(sent) if sent > 0 => {
                    for (header, message) in headers.iter().zip(pending).take(sent) {
                        results.push(if header.bytes_sent() == message.len() {
                            Ok(())
                        } else {
                            Err(DeliveryError::Send {
                                address,
                                reason: format!(
                                    "only {} of {} bytes sent",
                                    header.bytes_sent(),
                                    message.len()
                                ),
                            })
                        });
                    }
                }
                Err(Errno::INTR) => {}
                // The first message not sent failed: report it and carry on after it.
                Ok(_) => results.push(self.send(target, pending[0])),
                Err(error) => results.push(Err(DeliveryError::Send {
                    address,
                    reason: std::io::Error::from(error).to_string(),
                })),
            }
        }
        results
    }

    /// The datagram [`receive`](Link::receive) read last, `length` bytes long.
    pub(super) fn received(&self, length: usize) -> &[u8] {
        &self.inbox[..length]
    }

    /// Waits until `deadline` for one datagram: its source and length (the bytes are in
    /// [`received`](Link::received)).
    pub(super) fn receive(&mut self, deadline: Instant) -> Option<(SocketAddr, usize)> {
        loop {
            let wait = deadline.saturating_duration_since(Instant::now());
            if wait.is_zero() {
                return None;
            }
            // A zero read timeout means "block forever" to the OS, hence the floor.
            if let Err(error) = self
                .socket
                .set_read_timeout(Some(wait.max(Duration::from_millis(1))))
            {
                tracing::warn!("cannot wait for answers: {error}");
                std::thread::sleep(wait);
                return None;
            }
            match self.socket.recv_from(&mut self.inbox) {
                Ok((length, from)) => return Some((from, length)),
                Err(error)
                    if matches!(
                        error.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return None;
                }
                Err(error) => {
                    // E.g. an ICMP error reported late: it does not end the wait, but must
                    // not spin either.
                    tracing::debug!("receiving answers: {error}");
                    std::thread::sleep(wait.min(Duration::from_millis(10)));
                }
            }
        }
    }
}

/// An IPv4 address as a dual-stack IPv6 socket sees it (`::ffff:a.b.c.d`).
fn to_ipv6(address: SocketAddr) -> SocketAddr {
    match address {
        SocketAddr::V4(v4) => SocketAddr::new(IpAddr::V6(v4.ip().to_ipv6_mapped()), v4.port()),
        v6 => v6,
    }
}

fn same_endpoint(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() == b.port() && a.ip().to_canonical() == b.ip().to_canonical()
}

/// SNMPv1 `agent-addr`: the local IPv4 address that routes to the first IPv4 destination
/// (found by connecting a UDP socket, which sends nothing), or 0.0.0.0 when there is none.
pub(super) fn local_ipv4_towards(mut addresses: impl Iterator<Item = SocketAddr>) -> [u8; 4] {
    let Some(destination) = addresses.find(SocketAddr::is_ipv4) else {
        return [0; 4];
    };
    let local = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))
        .and_then(|socket| {
            socket.connect(destination)?;
            socket.local_addr()
        })
        .map(|address| address.ip());
    match local {
        Ok(IpAddr::V4(ip)) => ip.octets(),
        _ => [0; 4],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_addresses_match_their_ipv4_form() {
        let v4: SocketAddr = "127.0.0.1:162".parse().unwrap();
        assert!(same_endpoint(to_ipv6(v4), v4));
        assert!(!same_endpoint(v4, "127.0.0.1:163".parse().unwrap()));
    }
}

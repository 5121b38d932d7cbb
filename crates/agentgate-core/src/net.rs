//! SSRF protection: may an outbound request (a webhook delivery) go to this host or address?
//!
//! Pure rules, no DNS. The delivery client resolves a name once, checks the name with [`check_host_name`] and
//! every resolved address with [`check_ip`], and connects only to addresses that passed, so what was checked is
//! what is contacted. An IP-literal host skips resolution and goes straight to [`check_ip`].
//!
//! The older implementation matched address *strings* by prefix, which missed hex IPv4-mapped forms
//! (`[::ffff:7f00:1]`), CGNAT, benchmarking, multicast, `240/4` and NAT64. Here addresses are classified by their
//! bits, and IPv6 addresses that carry an IPv4 address are judged by the address they carry.
//!
//! ```
//! use agentgate_core::net::{check_ip, Refusal};
//! let loopback = "::ffff:7f00:1".parse().expect("an IPv6 literal");
//! assert_eq!(check_ip(loopback, false), Err(Refusal::Private));
//! assert_eq!(check_ip(loopback, true), Ok(()));
//! assert_eq!(check_ip("169.254.169.254".parse().expect("an IPv4 literal"), true), Err(Refusal::Metadata));
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What kind of destination an address is, as far as SSRF goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressClass {
    /// Globally routable and ordinary.
    Public,
    /// RFC 1918, CGNAT `100.64/10`, unique-local `fc00::/7`: someone's internal network.
    Private,
    /// `127/8` and `::1`: this machine.
    Loopback,
    /// Cloud metadata endpoints, and all of link-local (`169.254/16`, `fe80::/10`) because that is where they live.
    Metadata,
    /// Not a unicast destination anyone should be sending webhooks to: unspecified, broadcast, multicast,
    /// documentation, benchmarking, protocol assignments, tunnels (Teredo), and everything IANA has not
    /// allocated for global unicast.
    Reserved,
}

use AddressClass::{Loopback, Metadata, Private, Reserved};

/// Why a destination is refused. `Display` is the user-facing reason, in the older implementation's wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The host name is on the block list.
    #[error("Hostname is not allowed")]
    HostName,
    /// A cloud metadata or link-local address; no setting allows these.
    #[error("Cloud metadata endpoints are not allowed")]
    Metadata,
    /// A private or loopback address, and `AGENTGATE_ALLOW_PRIVATE_WEBHOOKS` is off.
    #[error("Private IP addresses are not allowed")]
    Private,
    /// A reserved, multicast or otherwise non-unicast address; no setting allows these.
    #[error("Reserved IP addresses are not allowed")]
    Reserved,
}

/// Cloud metadata endpoints outside link-local, plus the link-local ones named for clarity.
const V4_METADATA: &[Ipv4Addr] = &[
    Ipv4Addr::new(169, 254, 169, 254), // AWS, GCP, Azure, Oracle, DigitalOcean, ...
    Ipv4Addr::new(169, 254, 170, 2),   // AWS ECS task credentials
    Ipv4Addr::new(100, 100, 100, 200), // Alibaba Cloud; inside CGNAT, which would only make it Private
    Ipv4Addr::new(168, 63, 129, 16),   // Azure WireServer; a public address that reaches the host from a VM
];
const V6_METADATA: &[Ipv6Addr] = &[Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)]; // AWS IMDS over IPv6

/// IPv4 ranges that are not Public (RFC 6890 and the IANA special-purpose registry); first match wins.
const V4_RANGES: &[(Ipv4Addr, u32, AddressClass)] = &[
    (Ipv4Addr::new(0, 0, 0, 0), 8, Reserved), // "this network", including the unspecified address
    (Ipv4Addr::new(10, 0, 0, 0), 8, Private),
    (Ipv4Addr::new(100, 64, 0, 0), 10, Private), // CGNAT shared address space
    (Ipv4Addr::new(127, 0, 0, 0), 8, Loopback),
    (Ipv4Addr::new(169, 254, 0, 0), 16, Metadata), // link-local
    (Ipv4Addr::new(172, 16, 0, 0), 12, Private),
    (Ipv4Addr::new(192, 0, 0, 0), 24, Reserved), // IETF protocol assignments
    (Ipv4Addr::new(192, 0, 2, 0), 24, Reserved), // TEST-NET-1
    (Ipv4Addr::new(192, 88, 99, 0), 24, Reserved), // deprecated 6to4 relay anycast
    (Ipv4Addr::new(192, 168, 0, 0), 16, Private),
    (Ipv4Addr::new(198, 18, 0, 0), 15, Reserved),   // benchmarking
    (Ipv4Addr::new(198, 51, 100, 0), 24, Reserved), // TEST-NET-2
    (Ipv4Addr::new(203, 0, 113, 0), 24, Reserved),  // TEST-NET-3
    (Ipv4Addr::new(224, 0, 0, 0), 4, Reserved),     // multicast
    (Ipv4Addr::new(240, 0, 0, 0), 4, Reserved),     // future use, and the broadcast address
];

/// IPv6 ranges checked after metadata and embedded IPv4; first match wins. Anything else outside `2000::/3`
/// (site-local `fec0::/10`, discard `100::/64`, SRv6 `5f00::/16`, ...) is Reserved.
const V6_RANGES: &[(Ipv6Addr, u32, AddressClass)] = &[
    (Ipv6Addr::UNSPECIFIED, 128, Reserved),
    (Ipv6Addr::LOCALHOST, 128, Loopback),
    (Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7, Private), // unique-local
    (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10, Metadata), // link-local
    (Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8, Reserved), // multicast
    (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 32, Reserved), // Teredo: a tunnel whose far end we cannot judge
    (Ipv6Addr::new(0x2001, 0x2, 0, 0, 0, 0, 0, 0), 48, Reserved), // benchmarking
    (Ipv6Addr::new(0x2001, 0x10, 0, 0, 0, 0, 0, 0), 28, Reserved), // ORCHID
    (Ipv6Addr::new(0x2001, 0x20, 0, 0, 0, 0, 0, 0), 28, Reserved), // ORCHIDv2
    (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32, Reserved), // documentation
    (Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0), 20, Reserved), // documentation (RFC 9637)
];

/// Host names that always name a metadata service.
const METADATA_NAMES: &[&str] = &["metadata.google.internal", "metadata.goog", "metadata", "instance-data"];
/// Host names that name this machine.
const LOCAL_NAMES: &[&str] = &["localhost", "localhost.localdomain"];

/// The class of `ip`. IPv6 addresses carrying an IPv4 address (mapped, compatible, SIIT-translated, NAT64, 6to4)
/// take the class of the IPv4 address, since that is where the packets end up.
pub fn classify(ip: IpAddr) -> AddressClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> AddressClass {
    if V4_METADATA.contains(&ip) {
        return Metadata;
    }
    let bits = ip.to_bits();
    V4_RANGES
        .iter()
        .find(|(net, len, _)| bits & (u32::MAX << (32 - len)) == net.to_bits())
        .map_or(AddressClass::Public, |&(_, _, class)| class)
}

fn classify_v6(ip: Ipv6Addr) -> AddressClass {
    if V6_METADATA.contains(&ip) {
        return Metadata;
    }
    if let Some(v4) = embedded_v4(ip) {
        return classify_v4(v4);
    }
    let bits = ip.to_bits();
    if ip.segments()[..3] == [0x64, 0xff9b, 1] {
        // Local-use NAT64 (RFC 8215): the operator picks the prefix length, so where the IPv4 address sits is
        // unknown and the target is not public either way. Still name metadata when the /96 reading finds it.
        let class = classify_v4(Ipv4Addr::from_bits(bits as u32));
        return if class == Metadata { Metadata } else { Reserved };
    }
    let unlisted = if bits >> 125 == 0b001 { AddressClass::Public } else { Reserved }; // global unicast is 2000::/3
    V6_RANGES
        .iter()
        .find(|(net, len, _)| bits & (u128::MAX << (128 - len)) == net.to_bits())
        .map_or(unlisted, |&(_, _, class)| class)
}

/// The IPv4 address an IPv6 address carries, for the forms whose position is fixed.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let low32 = Ipv4Addr::from_bits(ip.to_bits() as u32);
    match ip.segments() {
        [0, 0, 0, 0, 0, 0xffff, _, _] => Some(low32), // IPv4-mapped ::ffff:0:0/96
        [0, 0, 0, 0, 0xffff, 0, _, _] => Some(low32), // SIIT IPv4-translated ::ffff:0:0:0/96
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(low32), // NAT64 well-known prefix 64:ff9b::/96
        [0, 0, 0, 0, 0, 0, 0, 0 | 1] => None,         // `::` and `::1` are themselves
        [0, 0, 0, 0, 0, 0, _, _] => Some(low32),      // deprecated IPv4-compatible ::/96
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::from_bits(u32::from(hi) << 16 | u32::from(lo))), // 6to4
        _ => None,
    }
}

/// Whether an outbound request may go to `ip`. `allow_private` (`AGENTGATE_ALLOW_PRIVATE_WEBHOOKS`, for tests and
/// local development) admits Private and Loopback addresses; Metadata and Reserved are refused regardless.
pub fn check_ip(ip: IpAddr, allow_private: bool) -> Result<(), Refusal> {
    match classify(ip) {
        AddressClass::Public => Ok(()),
        Private | Loopback if allow_private => Ok(()),
        Private | Loopback => Err(Refusal::Private),
        Metadata => Err(Refusal::Metadata),
        Reserved => Err(Refusal::Reserved),
    }
}

/// Whether an outbound request may go to the host name `host` (not an IP literal: use [`check_ip`] for those),
/// before resolving it. A name is blocked when it equals a blocked name or ends in `.<blocked name>`, ignoring
/// ASCII case and trailing dots. Metadata names are always blocked; `localhost`, `localhost.localdomain` and
/// `*.localhost` unless `allow_private`. The resolved addresses still go through [`check_ip`].
pub fn check_host_name(host: &str, allow_private: bool) -> Result<(), Refusal> {
    let name = host.trim_end_matches('.');
    let blocked = |list: &[&str]| list.iter().any(|b| is_name_or_subdomain(name, b));
    if name.is_empty() || blocked(METADATA_NAMES) || (!allow_private && blocked(LOCAL_NAMES)) {
        return Err(Refusal::HostName);
    }
    Ok(())
}

/// `name` is `parent` or a subdomain of it, ASCII case-insensitively. Compares bytes, so a multi-byte character
/// near the cut cannot panic a slice.
fn is_name_or_subdomain(name: &str, parent: &str) -> bool {
    let (name, parent) = (name.as_bytes(), parent.as_bytes());
    let Some(cut) = name.len().checked_sub(parent.len()) else { return false };
    name[cut..].eq_ignore_ascii_case(parent) && (cut == 0 || name[cut - 1] == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;
    use AddressClass::Public;
    use proptest::prelude::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|e| panic!("{s} is an IP literal: {e}"))
    }

    fn assert_classes(table: &[(&str, AddressClass)]) {
        for &(s, class) in table {
            assert_eq!(classify(ip(s)), class, "{s}");
        }
    }

    #[test]
    fn ipv4_ranges_and_boundaries() {
        assert_classes(&[
            ("8.8.8.8", Public),
            ("1.1.1.1", Public),
            ("0.0.0.0", Reserved),
            ("0.255.255.255", Reserved),
            ("1.0.0.0", Public),
            ("9.255.255.255", Public),
            ("10.0.0.0", Private),
            ("10.255.255.255", Private),
            ("11.0.0.0", Public),
            ("100.63.255.255", Public),
            ("100.64.0.0", Private),
            ("100.127.255.255", Private),
            ("100.128.0.0", Public),
            ("100.100.100.200", Metadata),
            ("126.255.255.255", Public),
            ("127.0.0.1", Loopback),
            ("127.255.255.255", Loopback),
            ("128.0.0.0", Public),
            ("168.63.129.16", Metadata),
            ("169.253.255.255", Public),
            ("169.254.0.0", Metadata),
            ("169.254.169.254", Metadata),
            ("169.254.170.2", Metadata),
            ("169.254.255.255", Metadata),
            ("169.255.0.0", Public),
            ("172.15.255.255", Public),
            ("172.16.0.0", Private),
            ("172.31.255.255", Private),
            ("172.32.0.0", Public),
            ("192.0.0.0", Reserved),
            ("192.0.0.255", Reserved),
            ("192.0.1.0", Public),
            ("192.0.2.1", Reserved),
            ("192.88.99.1", Reserved),
            ("192.167.255.255", Public),
            ("192.168.0.0", Private),
            ("192.168.255.255", Private),
            ("192.169.0.0", Public),
            ("198.17.255.255", Public),
            ("198.18.0.0", Reserved),
            ("198.19.255.255", Reserved),
            ("198.20.0.0", Public),
            ("198.51.100.7", Reserved),
            ("203.0.113.7", Reserved),
            ("223.255.255.255", Public),
            ("224.0.0.1", Reserved),
            ("239.255.255.255", Reserved),
            ("240.0.0.0", Reserved),
            ("255.255.255.255", Reserved),
        ]);
    }

    #[test]
    fn ipv6_ranges() {
        assert_classes(&[
            ("2606:4700:4700::1111", Public),
            ("2001:4860:4860::8888", Public),
            ("::", Reserved),
            ("::1", Loopback),
            ("fc00::1", Private),
            ("fd12:3456::1", Private),
            ("fd00:ec2::254", Metadata),
            ("fbff:ffff::1", Reserved),
            ("fe80::1", Metadata),
            ("febf:ffff::1", Metadata),
            ("fec0::1", Reserved), // site-local, deprecated
            ("ff02::1", Reserved),
            ("100::1", Reserved),  // discard
            ("2001::1", Reserved), // Teredo
            ("2001:0:4136:e378:8000:63bf:3fff:fdd2", Reserved),
            ("2001:2::1", Reserved),
            ("2001:10::1", Reserved),
            ("2001:20::1", Reserved),
            ("2001:db8::1", Reserved),
            ("2001:db9::1", Public),
            ("3fff::1", Reserved),
            ("5f00::1", Reserved), // SRv6, outside 2000::/3
            ("1fff:ffff::1", Reserved),
            ("4000::1", Reserved),
        ]);
    }

    #[test]
    fn ipv4_mapped_in_every_notation() {
        for (s, class) in [
            ("::ffff:127.0.0.1", Loopback),
            ("::ffff:7f00:1", Loopback),
            ("0:0:0:0:0:ffff:7f00:0001", Loopback),
            ("::FFFF:7F00:1", Loopback),
            ("::ffff:a9fe:a9fe", Metadata),
            ("::ffff:169.254.170.2", Metadata),
            ("::ffff:10.0.0.1", Private),
            ("::ffff:a00:1", Private),
            ("::ffff:100.64.0.1", Private),
            ("::ffff:0.0.0.0", Reserved),
            ("::ffff:8.8.8.8", Public),
        ] {
            let v6: Ipv6Addr = s.parse().unwrap_or_else(|e| panic!("{s} is an IPv6 literal: {e}"));
            assert_eq!(classify(IpAddr::V6(v6)), class, "{s}");
        }
    }

    #[test]
    fn other_ipv6_forms_carrying_ipv4() {
        assert_classes(&[
            ("64:ff9b::7f00:1", Loopback),
            ("64:ff9b::a9fe:a9fe", Metadata),
            ("64:ff9b::808:808", Public),
            ("64:ff9b::1:808:808", Reserved), // inside 64:ff9b::/32 but not the /96
            ("64:ff9b:1::808:808", Reserved), // local-use NAT64
            ("64:ff9b:1::a9fe:a9fe", Metadata),
            ("2002:7f00:1::", Loopback),
            ("2002:a9fe:a9fe::", Metadata),
            ("2002:a00:1:5::1", Private),
            ("2002:808:808::1", Public),
            ("::127.0.0.1", Loopback), // IPv4-compatible
            ("::a00:1", Private),
            ("::808:808", Public),
            ("::ffff:0:7f00:1", Loopback), // SIIT IPv4-translated
        ]);
    }

    #[test]
    fn allow_private_admits_only_private_and_loopback() {
        for (s, strict, relaxed) in [
            ("8.8.8.8", Ok(()), Ok(())),
            ("2606:4700:4700::1111", Ok(()), Ok(())),
            ("127.0.0.1", Err(Refusal::Private), Ok(())),
            ("::1", Err(Refusal::Private), Ok(())),
            ("::ffff:7f00:1", Err(Refusal::Private), Ok(())),
            ("10.1.2.3", Err(Refusal::Private), Ok(())),
            ("fd12::1", Err(Refusal::Private), Ok(())),
            ("100.64.0.1", Err(Refusal::Private), Ok(())),
            ("169.254.169.254", Err(Refusal::Metadata), Err(Refusal::Metadata)),
            ("::ffff:a9fe:a9fe", Err(Refusal::Metadata), Err(Refusal::Metadata)),
            ("fd00:ec2::254", Err(Refusal::Metadata), Err(Refusal::Metadata)),
            ("fe80::1", Err(Refusal::Metadata), Err(Refusal::Metadata)),
            ("100.100.100.200", Err(Refusal::Metadata), Err(Refusal::Metadata)),
            ("0.0.0.0", Err(Refusal::Reserved), Err(Refusal::Reserved)),
            ("::", Err(Refusal::Reserved), Err(Refusal::Reserved)),
            ("255.255.255.255", Err(Refusal::Reserved), Err(Refusal::Reserved)),
            ("224.0.0.1", Err(Refusal::Reserved), Err(Refusal::Reserved)),
            ("198.18.0.1", Err(Refusal::Reserved), Err(Refusal::Reserved)),
            ("2001:db8::1", Err(Refusal::Reserved), Err(Refusal::Reserved)),
        ] {
            assert_eq!(check_ip(ip(s), false), strict, "{s} strict");
            assert_eq!(check_ip(ip(s), true), relaxed, "{s} with allow_private");
        }
    }

    #[test]
    fn host_names() {
        for (host, strict_ok, relaxed_ok) in [
            ("example.com", true, true),
            ("hooks.example.com.", true, true),
            ("notlocalhost", true, true),
            ("localhost.example.com", true, true),
            ("metadata.example.com", true, true),
            ("localhost", false, true),
            ("LOCALHOST", false, true),
            ("localhost.", false, true),
            ("foo.localhost", false, true),
            ("localhost.localdomain", false, true),
            ("metadata.google.internal", false, false),
            ("metadata.google.internal.", false, false),
            ("METADATA.Google.Internal", false, false),
            ("x.metadata.goog", false, false),
            ("metadata", false, false),
            ("instance-data", false, false),
            ("instance-data.ec2.internal.metadata", false, false),
            ("", false, false),
            (".", false, false),
            ("é.localhost", false, true),
            ("ünïcödé", true, true),
        ] {
            let expect = |ok: bool| if ok { Ok(()) } else { Err(Refusal::HostName) };
            assert_eq!(check_host_name(host, false), expect(strict_ok), "{host:?} strict");
            assert_eq!(check_host_name(host, true), expect(relaxed_ok), "{host:?} with allow_private");
        }
    }

    #[test]
    fn refusals_read_as_the_older_implementation_did() {
        assert_eq!(Refusal::HostName.to_string(), "Hostname is not allowed");
        assert_eq!(Refusal::Metadata.to_string(), "Cloud metadata endpoints are not allowed");
        assert_eq!(Refusal::Private.to_string(), "Private IP addresses are not allowed");
        assert_eq!(Refusal::Reserved.to_string(), "Reserved IP addresses are not allowed");
    }

    proptest! {
        #[test]
        fn ipv6_carrying_ipv4_classifies_as_the_ipv4(bits: u32) {
            let v4 = Ipv4Addr::from_bits(bits);
            let class = classify(IpAddr::V4(v4));
            let [a, b, c, d] = v4.octets().map(u16::from);
            let (hi, lo) = (a << 8 | b, c << 8 | d);
            prop_assert_eq!(classify(IpAddr::V6(v4.to_ipv6_mapped())), class);
            prop_assert_eq!(classify(IpAddr::V6(Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, hi, lo))), class);
            prop_assert_eq!(classify(IpAddr::V6(Ipv6Addr::new(0x2002, hi, lo, 0, 0, 0, 0, 1))), class);
        }
    }
}

//! `superuserIPs`: IPs and CIDR subnets (`10.0.0.0/24`, `::1`) and whether an address is in
//! one of them.

use std::net::IpAddr;

/// An IP or subnet as `(network, prefix length)`; `None` when `s` is neither.
pub fn parse(s: &str) -> Option<(IpAddr, u8)> {
    let s = s.trim();
    let (addr, bits) = match s.split_once('/') {
        Some((a, b)) => (a.parse::<IpAddr>().ok()?, Some(b.parse::<u8>().ok()?)),
        None => (s.parse::<IpAddr>().ok()?, None),
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let bits = bits.unwrap_or(max);
    (bits <= max).then_some((addr, bits))
}

fn bits_of(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// Whether `ip` is one of `list`'s addresses or in one of its subnets. An IPv4-mapped IPv6
/// client address (`::ffff:1.2.3.4`) counts as its IPv4 address.
pub fn allowed(list: &[String], ip: &str) -> bool {
    let Ok(ip) = ip.trim().parse::<IpAddr>() else {
        return false;
    };
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    };
    list.iter().filter_map(|s| parse(s)).any(|(net, bits)| {
        if net.is_ipv4() != ip.is_ipv4() {
            return false;
        }
        let width = if net.is_ipv4() { 32 } else { 128 };
        let shift = width - u32::from(bits);
        if shift >= 128 {
            return true;
        }
        (bits_of(net) >> shift) == (bits_of(ip) >> shift)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_subnets() {
        let list = vec!["127.0.0.1".to_string(), "10.0.0.0/24".into(), "fd00::/8".into()];
        assert!(allowed(&list, "127.0.0.1"));
        assert!(allowed(&list, "10.0.0.77"));
        assert!(!allowed(&list, "10.0.1.1"));
        assert!(allowed(&list, "fd12::1"));
        assert!(allowed(&list, "::ffff:10.0.0.3"));
        assert!(!allowed(&list, "192.168.1.1"));
        assert!(!allowed(&list, "not an ip"));
        assert!(allowed(&["0.0.0.0/0".to_string()], "8.8.8.8"));
        assert!(parse("bad").is_none());
        assert!(parse("10.0.0.0/33").is_none());
    }
}

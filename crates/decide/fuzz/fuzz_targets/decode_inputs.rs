//! The parsers the hooks run on caller-supplied bytes: socket addresses,
//! ELF headers, fopen modes, PATH search. None may panic; addresses that
//! parse round-trip.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_decide::{childenv, elf, flags, paths::PathBuf, search, sockaddr};

fuzz_target!(|data: &[u8]| {
    if let sockaddr::Peer::Inet { ip, port } = sockaddr::parse(data) {
        let family = u16::from_ne_bytes([data[0], data[1]]);
        assert!(family == sockaddr::AF_INET || family == sockaddr::AF_INET6);
        assert_eq!(port, u16::from_be_bytes([data[2], data[3]]));
        assert!(!ip.to_canonical().is_ipv6() || family == sockaddr::AF_INET6);
    }
    let _ = elf::classify(data);
    if let Some(f) = flags::fopen_flags(data) {
        let _ = flags::open_access(f);
    }
    let _ = childenv::is_replaced(data);
    let (path_var, file) = data.split_at(data.len() / 2);
    let mut out = PathBuf::new();
    let mut calls = 0;
    let found = search::find(path_var, file, b"/cwd", &mut out, |p| {
        calls += 1;
        assert_eq!(p.last(), Some(&0));
        calls == 3
    });
    assert!(!found || calls == 3);
});

//! The parsers the hooks run on caller-supplied bytes: socket addresses
//! (and send destinations per socket), ELF headers, fopen modes, PATH
//! search, getaddrinfo's lookup plan and hosts file, the directory
//! spelling of a resolved path. None may panic; addresses that parse
//! round-trip.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_decide::{childenv, elf, flags, names, paths, paths::PathBuf, search, sockaddr};

fuzz_target!(|data: &[u8]| {
    if let sockaddr::Peer::Inet { ip, port } = sockaddr::parse(data) {
        let family = u16::from_ne_bytes([data[0], data[1]]);
        assert!(family == sockaddr::AF_INET || family == sockaddr::AF_INET6);
        assert_eq!(port, u16::from_be_bytes([data[2], data[3]]));
        assert!(!ip.to_canonical().is_ipv6() || family == sockaddr::AF_INET6);
    }
    for datagram in [false, true] {
        for domain in [sockaddr::AF_INET, sockaddr::AF_INET6] {
            let peer = sockaddr::send_destination(data, sockaddr::SendSocket { domain, datagram });
            if sockaddr::family(data) != Some(sockaddr::AF_UNSPEC) {
                assert_eq!(peer, sockaddr::parse(data));
            }
        }
    }
    let mut absolute = [0u8; names::NAME_MAX + 2];
    if let names::NameLookup::Absolute(n) = names::plan_lookup(data, false, &mut absolute) {
        assert_eq!(&absolute[n - 2..n], b".\0");
    }
    let (hosts, name) = data.split_at(data.len() / 3);
    assert!(!names::hosts_lists(hosts, name, "127.0.0.1".parse().unwrap()) || names::hosts_names(hosts, name));
    let (resolved, caller) = data.split_at(data.len() / 2);
    let mut spelled = [0u8; 64];
    if let Some(n) = paths::directory_spelling(resolved, caller, &mut spelled) {
        assert_eq!(spelled[n - 1], 0);
        assert!(paths::names_directory(caller));
    }
    let _ = elf::classify(data);
    if let Some(f) = flags::fopen_flags(data) {
        let _ = flags::open_access(f);
    }
    let _ = childenv::is_replaced(data);
    let (path_var, file) = data.split_at(data.len() / 2);
    let mut out = PathBuf::new();
    let mut calls = 0;
    // The first candidates are missing, the second not runnable (a
    // directory), the third runs: the search stops at the first that runs.
    let mut not_runnable = false;
    let found = search::find(path_var, file, b"/cwd", &mut out, |p| {
        calls += 1;
        assert_eq!(p.last(), Some(&0));
        match calls {
            3 => search::Candidate::Runs,
            2 => {
                not_runnable = true;
                search::Candidate::NotRunnable
            }
            _ => search::Candidate::Missing,
        }
    });
    match found {
        search::Found::Yes => assert_eq!(calls, 3),
        search::Found::NoPermission => assert!(not_runnable && calls < 3),
        search::Found::No => assert!(!not_runnable),
    }
});

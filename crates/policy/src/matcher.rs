//! The compiled policy: immutable, queried in place by the hooks.

use std::net::IpAddr;

use crate::doc::Policy;
use crate::glob::match_wild;
use crate::index::{ApiIndex, GlobIndex, NetIndex, with_normalized};
use crate::rule::{NetRule, UnixPattern};
use crate::types::{Access, Category, CategorySet, InputSource, Mode, Proto};

/// An outbound connection or datagram to decide on.
#[derive(Clone, Copy, Debug)]
pub struct Connect<'a> {
    pub proto: Proto,
    /// The peer address, when known (IPv4-mapped IPv6 is treated as IPv4).
    pub ip: Option<IpAddr>,
    /// A DNS name that resolved to `ip` in this process, when known.
    pub name: Option<&'a [u8]>,
    pub port: u16,
}

/// What the layer does with one activity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing to report, nothing to deny.
    Allow,
    /// Profile mode: report it (once per process), deny nothing.
    Profile,
    /// Not allowed: report it, deny nothing.
    Alert,
    /// Not allowed: report it and deny it with `EACCES`.
    Block,
}

/// A compiled policy. Queries never allocate, lock or panic, and take
/// time independent of the number of rules for realistic policies (see the
/// benchmark table in the README).
#[derive(Clone, Debug)]
pub struct Matcher {
    mode: Mode,
    block: CategorySet,
    file: GlobIndex,
    process: GlobIndex,
    net: NetIndex,
    unix_paths: GlobIndex,
    unix_abstract: Box<[Box<[u8]>]>,
    api: ApiIndex,
    input: u16,
}

impl Policy {
    /// Compiles the policy into its query form.
    pub fn compile(&self) -> Matcher {
        let hosts = self.network.iter().filter_map(|r| match r {
            NetRule::Host { proto, host, ports } => Some((*proto, host, *ports)),
            NetRule::Unix(_) => None,
        });
        let unix = || {
            self.network.iter().filter_map(|r| match r {
                NetRule::Unix(u) => Some(u),
                NetRule::Host { .. } => None,
            })
        };
        Matcher {
            mode: self.mode,
            block: self.block,
            file: GlobIndex::build(self.file.iter().map(|r| (r.access, &r.glob))),
            process: GlobIndex::build(self.process.iter().map(|g| (Access::R, g))),
            net: NetIndex::build(hosts),
            unix_paths: GlobIndex::build(unix().filter_map(|u| match u {
                UnixPattern::Path(g) => Some((Access::R, g)),
                UnixPattern::Abstract(_) => None,
            })),
            unix_abstract: unix()
                .filter_map(|u| match u {
                    UnixPattern::Abstract(n) => Some(n.as_bytes().into()),
                    UnixPattern::Path(_) => None,
                })
                .collect(),
            api: ApiIndex::build(self.api.iter().map(|r| (r.service.as_str(), r.action.as_str()))),
            input: self.input.iter().fold(0, |bits, i| bits | i.bit()),
        }
    }
}

impl Matcher {
    pub fn mode(&self) -> Mode {
        self.mode
    }

    pub fn block_set(&self) -> CategorySet {
        self.block
    }

    /// The same rules under another mode (`RAMPART_MODE` overrides the policy's).
    pub fn with_mode(mut self, mode: Mode) -> Matcher {
        self.mode = mode;
        self
    }

    /// What to do with an activity of `cat` that the rules allow or not.
    pub fn verdict(&self, cat: Category, allowed: bool) -> Verdict {
        match self.mode {
            Mode::Off => Verdict::Allow,
            Mode::Profile => Verdict::Profile,
            _ if allowed => Verdict::Allow,
            Mode::Block if self.block.contains(cat) => Verdict::Block,
            _ => Verdict::Alert,
        }
    }

    /// May `path` (absolute; normalised here if it is not) be opened with
    /// `access`? Read and write may come from different rules.
    pub fn allows_file(&self, path: &[u8], access: Access) -> bool {
        access != Access::NONE && with_normalized(path, |p| self.file.granted(p, access).covers(access))
    }

    /// May the program at `path` (absolute) be executed?
    pub fn allows_process(&self, path: &[u8]) -> bool {
        with_normalized(path, |p| self.process.granted(p, Access::R) == Access::R)
    }

    /// May this connection be made (or datagram sent)?
    pub fn allows_connect(&self, c: &Connect<'_>) -> bool {
        self.net.allows(c.proto, c.ip, c.name, c.port)
    }

    /// May a Unix socket be connected: an absolute path, or `@name` for an
    /// abstract socket.
    pub fn allows_unix(&self, path: &[u8]) -> bool {
        match path.strip_prefix(b"@") {
            Some(name) => self.unix_abstract.iter().any(|p| match_wild(p, name)),
            None => with_normalized(path, |p| self.unix_paths.granted(p, Access::R) == Access::R),
        }
    }

    /// May this AWS API action be called? With `action` `None` (only the
    /// service is known), any rule for the service allows it.
    pub fn allows_api(&self, service: &str, action: Option<&str>) -> bool {
        self.api.allows(service, action)
    }

    pub fn allows_input(&self, src: InputSource) -> bool {
        self.input & src.bit() != 0
    }
}

//! The compiled policy: immutable, queried in place by the hooks.

use std::net::IpAddr;

use crate::doc::Policy;
use crate::glob::match_wild;
use crate::index::{ApiIndex, GlobIndex, NetIndex};
use crate::rule::{NetRule, UnixPattern};
use crate::snapshot::{self, Reader, SnapshotError, Writer};
use crate::table::ByteStrings;
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
    unix_abstract: ByteStrings,
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
            unix_abstract: ByteStrings::build(unix().filter_map(|u| match u {
                UnixPattern::Abstract(n) => Some(n.as_bytes()),
                UnixPattern::Path(_) => None,
            })),
            api: ApiIndex::build(self.api.iter().map(|r| (r.service.as_str(), r.action.as_str(), r.bucket.as_deref()))),
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
        access != Access::NONE && self.file.granted(path, access).covers(access)
    }

    /// May the program at `path` (absolute) be executed?
    pub fn allows_process(&self, path: &[u8]) -> bool {
        self.process.granted(path, Access::R) == Access::R
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
            None => self.unix_paths.granted(path, Access::R) == Access::R,
        }
    }

    /// May this AWS API action be called (on `bucket`, when the call names
    /// one)? With `action` `None` (only the service is known), any rule for
    /// the service (and bucket) allows it. A rule without a bucket allows
    /// any bucket and calls without one; a rule with a bucket allows only
    /// calls on a matching known bucket, and service-level calls whose
    /// bucket is not known (see [`crate::ApiRule`]).
    pub fn allows_api(&self, service: &str, action: Option<&str>, bucket: Option<&str>) -> bool {
        self.api.allows(service, action, bucket)
    }

    pub fn allows_input(&self, src: InputSource) -> bool {
        self.input & src.bit() != 0
    }
}

impl Matcher {
    /// The compiled form as bytes: what [`Matcher::from_snapshot`] loads
    /// without parsing or compiling (the format is described in the
    /// `snapshot` module). The same policy always gives the same bytes.
    pub fn to_snapshot(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u8(mode_code(self.mode));
        w.u8(self.block.bits());
        w.u16(self.input);
        self.file.write_snapshot(&mut w);
        self.process.write_snapshot(&mut w);
        self.net.write_snapshot(&mut w);
        self.unix_paths.write_snapshot(&mut w);
        self.unix_abstract.write_snapshot(&mut w);
        self.api.write_snapshot(&mut w);
        snapshot::seal(w)
    }

    /// Loads a snapshot written by [`Matcher::to_snapshot`]. Malformed input
    /// (truncated, corrupted, another format version, hostile) is an `Err`,
    /// never a panic: the header, the checksum and every offset, span, index
    /// and table size a query follows are checked here. A matcher this
    /// returns answers every query exactly as the one that wrote it, with
    /// the same guarantees (no allocation, no lock, no panic).
    pub fn from_snapshot(bytes: &[u8]) -> Result<Matcher, SnapshotError> {
        let (body, checksum) = snapshot::open(bytes)?;
        let mut r = Reader::new(body);
        let read = Matcher::read_snapshot(&mut r);
        r.finish(checksum, read)
    }

    fn read_snapshot(r: &mut Reader<'_>) -> Result<Matcher, SnapshotError> {
        let mode = match r.u8("mode")? {
            0 => Mode::Off,
            1 => Mode::Profile,
            2 => Mode::Alert,
            3 => Mode::Block,
            other => return Err(r.fail(format_args!("unknown mode {other}"))),
        };
        let block = r.u8("block set")?;
        let Some(block) = CategorySet::from_bits(block) else {
            return Err(r.fail(format_args!("block set {block:#x} names unknown categories")));
        };
        let input = r.u16("input bits")?;
        if input & !InputSource::ALL_BITS != 0 {
            return Err(r.fail(format_args!("input bits {input:#x} name unknown sources")));
        }
        r.section("file");
        let file = GlobIndex::read_snapshot(r)?;
        r.section("process");
        let process = GlobIndex::read_snapshot(r)?;
        r.section("network");
        let net = NetIndex::read_snapshot(r)?;
        r.section("unix paths");
        let unix_paths = GlobIndex::read_snapshot(r)?;
        r.section("unix abstract names");
        let unix_abstract = ByteStrings::read_snapshot(r, "names")?;
        r.section("api");
        let api = ApiIndex::read_snapshot(r)?;
        Ok(Matcher { mode, block, file, process, net, unix_paths, unix_abstract, api, input })
    }
}

fn mode_code(mode: Mode) -> u8 {
    match mode {
        Mode::Off => 0,
        Mode::Profile => 1,
        Mode::Alert => 2,
        Mode::Block => 3,
    }
}

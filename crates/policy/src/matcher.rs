//! The compiled policy: immutable, queried in place by the hooks.
//! (Temporary: delegates to the reference matcher until compiled tables land.)

use std::net::IpAddr;

use crate::doc::Policy;
use crate::reference;
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

/// A compiled policy. Queries never allocate, lock or panic.
#[derive(Clone, Debug)]
pub struct Matcher {
    mode: Mode,
    block: CategorySet,
    policy: Policy,
}

impl Policy {
    /// Compiles the policy into its query form.
    pub fn compile(&self) -> Matcher {
        Matcher { mode: self.mode, block: self.block, policy: self.clone() }
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
        reference::allows_file(&self.policy, path, access)
    }

    /// May the program at `path` (absolute) be executed?
    pub fn allows_process(&self, path: &[u8]) -> bool {
        reference::allows_process(&self.policy, path)
    }

    /// May this connection be made (or datagram sent)?
    pub fn allows_connect(&self, c: &Connect<'_>) -> bool {
        reference::allows_connect(&self.policy, c)
    }

    /// May a Unix socket be connected: an absolute path, or `@name` for an
    /// abstract socket.
    pub fn allows_unix(&self, path: &[u8]) -> bool {
        reference::allows_unix(&self.policy, path)
    }

    /// May this AWS API action be called? With `action` `None` (only the
    /// service is known), any rule for the service allows it.
    pub fn allows_api(&self, service: &str, action: Option<&str>) -> bool {
        reference::allows_api(&self.policy, service, action)
    }

    pub fn allows_input(&self, src: InputSource) -> bool {
        reference::allows_input(&self.policy, src)
    }
}

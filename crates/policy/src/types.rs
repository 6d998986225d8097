//! The small vocabulary every other module (and every other crate) speaks:
//! categories, modes, access kinds, protocols and input sources.

use std::fmt;

/// One of the five kinds of activity a policy governs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Category {
    File,
    Network,
    Process,
    Api,
    Input,
}

impl Category {
    /// All categories, in the order policy.json lists them.
    pub const ALL: [Category; 5] =
        [Category::File, Category::Network, Category::Process, Category::Api, Category::Input];

    /// The name used in policy.json and in event lines.
    pub const fn as_str(self) -> &'static str {
        match self {
            Category::File => "file",
            Category::Network => "network",
            Category::Process => "process",
            Category::Api => "api",
            Category::Input => "input",
        }
    }

    pub fn parse(s: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.as_str() == s)
    }

    const fn bit(self) -> u8 {
        1 << self as u8
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of categories (the policy's `block` list).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct CategorySet(u8);

impl CategorySet {
    pub const EMPTY: CategorySet = CategorySet(0);
    pub const ALL: CategorySet = CategorySet(0b1_1111);

    pub const fn contains(self, c: Category) -> bool {
        self.0 & c.bit() != 0
    }

    pub const fn with(self, c: Category) -> CategorySet {
        CategorySet(self.0 | c.bit())
    }

    pub fn iter(self) -> impl Iterator<Item = Category> {
        Category::ALL.into_iter().filter(move |c| self.contains(*c))
    }

    pub(crate) const fn bits(self) -> u8 {
        self.0
    }

    /// The set with these bits, `None` when a bit names no category.
    pub(crate) const fn from_bits(bits: u8) -> Option<CategorySet> {
        if bits & !CategorySet::ALL.0 == 0 { Some(CategorySet(bits)) } else { None }
    }
}

impl FromIterator<Category> for CategorySet {
    fn from_iter<I: IntoIterator<Item = Category>>(iter: I) -> Self {
        iter.into_iter().fold(CategorySet::EMPTY, CategorySet::with)
    }
}

/// What the layer does with activity. `Off` exists only as a runtime
/// override (`RAMPART_MODE=off`); a policy file cannot say it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    Off,
    Profile,
    Alert,
    Block,
}

impl Mode {
    pub const fn as_str(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::Profile => "profile",
            Mode::Alert => "alert",
            Mode::Block => "block",
        }
    }

    /// Parses any mode, `off` included (for `RAMPART_MODE`).
    pub fn parse(s: &str) -> Option<Mode> {
        [Mode::Off, Mode::Profile, Mode::Alert, Mode::Block].into_iter().find(|m| m.as_str() == s)
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Read and/or write access to a file. Opening for reading needs `R`;
/// writing, creating, truncating, appending, unlink/rename/mkdir need `W`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Access(u8);

impl Access {
    pub const NONE: Access = Access(0);
    pub const R: Access = Access(1);
    pub const W: Access = Access(2);
    pub const RW: Access = Access(3);

    pub const fn bits(self) -> u8 {
        self.0
    }

    /// The access with these bits, `None` beyond `RW`.
    pub(crate) const fn from_bits(bits: u8) -> Option<Access> {
        if bits <= Access::RW.0 { Some(Access(bits)) } else { None }
    }

    pub const fn union(self, other: Access) -> Access {
        Access(self.0 | other.0)
    }

    /// True when every kind of access in `needed` is in `self`.
    pub const fn covers(self, needed: Access) -> bool {
        self.0 & needed.0 == needed.0
    }

    pub const fn as_str(self) -> &'static str {
        match self.0 {
            1 => "r",
            2 => "w",
            3 => "rw",
            _ => "",
        }
    }

    /// Parses `r`, `w` or `rw` (also `wr`).
    pub fn parse(s: &str) -> Option<Access> {
        match s {
            "r" => Some(Access::R),
            "w" => Some(Access::W),
            "rw" | "wr" => Some(Access::RW),
            _ => None,
        }
    }
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Transport of a network rule or connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub const fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// The event source of an invocation (`allow.input`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum InputSource {
    Sqs,
    Sns,
    S3,
    DynamoDb,
    Kinesis,
    ApiGateway,
    ApiGatewayV2,
    Alb,
    LambdaUrl,
    Events,
    Logs,
    Direct,
}

impl InputSource {
    pub const ALL: [InputSource; 12] = [
        InputSource::Sqs,
        InputSource::Sns,
        InputSource::S3,
        InputSource::DynamoDb,
        InputSource::Kinesis,
        InputSource::ApiGateway,
        InputSource::ApiGatewayV2,
        InputSource::Alb,
        InputSource::LambdaUrl,
        InputSource::Events,
        InputSource::Logs,
        InputSource::Direct,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            InputSource::Sqs => "aws:sqs",
            InputSource::Sns => "aws:sns",
            InputSource::S3 => "aws:s3",
            InputSource::DynamoDb => "aws:dynamodb",
            InputSource::Kinesis => "aws:kinesis",
            InputSource::ApiGateway => "aws:apigateway",
            InputSource::ApiGatewayV2 => "aws:apigatewayv2",
            InputSource::Alb => "aws:alb",
            InputSource::LambdaUrl => "aws:lambda-url",
            InputSource::Events => "aws:events",
            InputSource::Logs => "aws:logs",
            InputSource::Direct => "direct",
        }
    }

    pub fn parse(s: &str) -> Option<InputSource> {
        InputSource::ALL.into_iter().find(|i| i.as_str() == s)
    }

    pub(crate) const fn bit(self) -> u16 {
        1 << self as u16
    }

    /// Every source's bit.
    pub(crate) const ALL_BITS: u16 = (1 << InputSource::ALL.len()) - 1;
}

impl fmt::Display for InputSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for c in Category::ALL {
            assert_eq!(Category::parse(c.as_str()), Some(c));
        }
        for i in InputSource::ALL {
            assert_eq!(InputSource::parse(i.as_str()), Some(i));
        }
        for m in ["off", "profile", "alert", "block"] {
            assert_eq!(Mode::parse(m).map(Mode::as_str), Some(m));
        }
        assert_eq!(Category::parse("File"), None);
        assert_eq!(InputSource::parse("aws:SQS"), None);
    }

    #[test]
    fn access_covers() {
        assert!(Access::RW.covers(Access::R));
        assert!(Access::RW.covers(Access::W));
        assert!(!Access::R.covers(Access::RW));
        assert!(Access::R.union(Access::W).covers(Access::RW));
        assert_eq!(Access::parse("wr"), Some(Access::RW));
        assert_eq!(Access::parse("x"), None);
    }

    #[test]
    fn category_set() {
        let s: CategorySet = [Category::File, Category::Input].into_iter().collect();
        assert!(s.contains(Category::File) && s.contains(Category::Input));
        assert!(!s.contains(Category::Network));
        assert_eq!(CategorySet::ALL.iter().count(), 5);
    }
}

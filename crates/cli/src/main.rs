//! `rampart`: build allowlist policies from a function's logs, and check,
//! show, edit and compare them. The work is done by the `rampart-learn`
//! and `rampart-policy` crates; this is their command line.
//!
//! Exit codes: 0 success; 1 `policy diff` found differences; 2 bad input
//! (missing or unreadable file, invalid JSON or rule, unknown category or
//! mode, unwritable output, a signature that does not verify) or an AWS
//! failure (no credentials, access denied, no such bucket or function,
//! a failed Lambda update, network),
//! always reported as one line on stderr that starts with `rampart: `.

#![forbid(unsafe_code)]

mod aws;
mod files;
mod instrument;
mod keys;
mod learn;
mod policy;
mod remote;
mod run;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::{Args, Parser, Subcommand};

use files::Fail;

/// rampart protects AWS Lambda functions (and any dynamically linked Linux
/// process) at run time: it checks every file open, connection, program
/// launch, AWS API call and invocation input against an allowlist policy.
/// This command attaches the layer to a Lambda function and detaches it;
/// learns the policy from the function's logs (files or its CloudWatch log
/// group); checks, shows, edits, compares and signs policy files; and moves
/// them to and from the S3 folder the layer reads.
#[derive(Parser, Debug)]
#[command(name = "rampart", version, max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Build or extend a policy from the event lines in a function's logs.
    ///
    /// Reads rampart's event lines (from CloudWatch exports, `aws logs`
    /// output, Lambda's JSON log format or raw stderr; other lines and the
    /// prefixes CloudWatch adds are skipped), turns what the function did
    /// into rules, and writes a policy: a new one in alert mode, or IN
    /// extended with what it does not allow yet. Random temp file names,
    /// numbered files and ephemeral local ports are generalised, nothing
    /// else. Block lines are never learned (that would allow what was
    /// blocked). A summary of the added rules goes to stderr.
    ///
    /// With --function NAME the lines come from the function's CloudWatch
    /// log group (/aws/lambda/NAME, FilterLogEvents since --since ago), with
    /// a progress line per page on stderr.
    Learn(LearnArgs),
    /// Check, show, edit, compare and sign policy.json files; push and pull them to and from S3.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Run a command under protection: librampart.so preloaded, with the
    /// policy and mode given here.
    ///
    /// Every dynamically linked program the command starts is covered too.
    /// The library is RAMPART_LIB, or librampart.so next to this binary.
    /// Exit status is the command's; 127 when it cannot be found.
    Run(RunArgs),
    /// Attach rampart to a Lambda function: its layer and its two variables.
    ///
    /// Reads the function's configuration, adds the layer (other layers keep
    /// their order; an older version of the same layer is replaced in place),
    /// sets AWS_LAMBDA_EXEC_WRAPPER=/opt/rampart/wrapper and RAMPART_POLICY
    /// (every other variable kept), saves what it replaced in the variable
    /// RAMPART_UNINSTRUMENT, updates the function and waits until Lambda
    /// reports the update Successful. Prints the change. Refuses to replace
    /// another exec wrapper unless --force. Running it again changes nothing.
    /// Needs lambda:GetFunctionConfiguration and lambda:UpdateFunctionConfiguration.
    Instrument(InstrumentArgs),
    /// Detach rampart from a Lambda function: back to the state before `rampart instrument`.
    ///
    /// Removes rampart's layer (any version; the other layers keep their
    /// order) and puts AWS_LAMBDA_EXEC_WRAPPER and RAMPART_POLICY back as they
    /// were before the first instrument (unset, or the wrapper --force
    /// replaced), from the saved RAMPART_UNINSTRUMENT variable, which goes too.
    /// Other variables are kept as they are now. Waits for the update.
    Uninstrument(UninstrumentArgs),
}

/// How the Lambda and CloudWatch Logs commands find credentials, region and
/// endpoint: as the S3 commands do (AWS_ACCESS_KEY_ID, ..., AWS_REGION, the
/// shared files and profiles), the endpoint from AWS_ENDPOINT_URL_LAMBDA or
/// AWS_ENDPOINT_URL_CLOUDWATCH_LOGS, then AWS_ENDPOINT_URL.
#[derive(Args, Debug, Clone, Default)]
pub struct AwsOpts {
    /// The profile in ~/.aws/credentials and ~/.aws/config (default: AWS_PROFILE, else `default`).
    /// Without it, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment come first.
    #[arg(long, value_name = "P")]
    pub profile: Option<String>,
    /// The function's region (default: AWS_REGION, AWS_DEFAULT_REGION, the profile's, else us-east-1).
    #[arg(long, value_name = "R")]
    pub region: Option<String>,
}

/// Options of `rampart instrument`.
#[derive(Args, Debug)]
pub struct InstrumentArgs {
    /// The function: its name, partial ARN or ARN (not a version or alias).
    #[arg(long, value_name = "NAME", required = true)]
    pub function: String,
    /// The rampart layer version: arn:aws:lambda:REGION:ACCOUNT:layer:NAME:VERSION.
    #[arg(long, value_name = "ARN", required = true)]
    pub layer: String,
    /// Where the layer reads the policy: s3://BUCKET/PREFIX (s3://BUCKET alone: PREFIX = the function's name).
    #[arg(long, value_name = "S3_URL", required = true)]
    pub policy: String,
    /// Replace another exec wrapper (AWS_LAMBDA_EXEC_WRAPPER); uninstrument puts it back.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub update: UpdateOpts,
}

/// Options of `rampart uninstrument`.
#[derive(Args, Debug)]
pub struct UninstrumentArgs {
    /// The function: its name, partial ARN or ARN.
    #[arg(long, value_name = "NAME", required = true)]
    pub function: String,
    #[command(flatten)]
    pub update: UpdateOpts,
}

/// How `instrument` and `uninstrument` change a function.
#[derive(Args, Debug)]
pub struct UpdateOpts {
    /// Print the change (layers and variables before -> after) and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// How long to wait for Lambda to finish the update, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    pub wait_timeout: u64,
    #[command(flatten)]
    pub aws: AwsOpts,
}

/// Options of `rampart run`.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// The policy (RAMPART_POLICY): a file, or s3://BUCKET/PREFIX, fetched
    /// and refreshed every RAMPART_REFRESH_SECS with the AWS_* credentials of
    /// the environment. Without it: profile mode, nothing allowed yet.
    #[arg(long, value_name = "P")]
    pub policy: Option<PathBuf>,
    /// profile, alert, block or off; overrides the policy's mode (RAMPART_MODE).
    #[arg(long, value_name = "M")]
    pub mode: Option<String>,
    /// The command and its arguments, after `--`.
    #[arg(value_name = "CMD", required = true, last = true)]
    pub command: Vec<std::ffi::OsString>,
}

/// Options of `rampart learn`.
#[derive(Args, Debug)]
pub struct LearnArgs {
    /// Extend this policy (its rules, mode and block list are kept); it is
    /// rewritten in place unless -o is given.
    #[arg(long, value_name = "IN")]
    pub policy: Option<PathBuf>,
    /// Write the policy to this file (`-` for standard output) instead of
    /// stdout or, with --policy, instead of rewriting IN.
    #[arg(short, long, value_name = "OUT")]
    pub output: Option<PathBuf>,
    /// Print the summary as JSON on stdout; the policy then has to go to a
    /// file, so -o or --policy is required.
    #[arg(long)]
    pub json: bool,
    /// Log files to read; standard input when none is given (`-` also means
    /// standard input).
    #[arg(value_name = "LOG", conflicts_with = "function")]
    pub logs: Vec<PathBuf>,
    /// Read the function's CloudWatch log group (/aws/lambda/NAME) instead,
    /// with FilterLogEvents and the filter pattern `{ $.rampart = 1 }`.
    /// Needs logs:FilterLogEvents.
    #[arg(long, value_name = "NAME")]
    pub function: Option<String>,
    /// With --function: how far back to read, e.g. 30m, 6h, 2d (s, m, h, d).
    #[arg(long, value_name = "DURATION", default_value = "24h", requires = "function")]
    pub since: String,
    /// With --function: read every event of the group, not only those the
    /// JSON filter pattern matches (for log formats that wrap rampart's lines).
    #[arg(long, requires = "function")]
    pub no_filter: bool,
    #[command(flatten)]
    pub aws: AwsOpts,
}

#[derive(Subcommand, Debug)]
pub enum PolicyCommand {
    /// Validate policy files.
    ///
    /// Prints "FILE: ok (mode M; file N, network N, ...)" for each valid
    /// file; exit 0 when all are valid, 2 (with the bad rule named on
    /// stderr) when one is not.
    Check {
        /// Policy files to check.
        #[arg(value_name = "FILE", required = true)]
        files: Vec<PathBuf>,
    },
    /// Print a policy: its mode, the categories block mode denies, and the rules of each category.
    Show {
        /// The policy file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Print the validated policy as canonical JSON instead.
        #[arg(long)]
        json: bool,
    },
    /// Add rules to a policy, e.g. `rampart policy allow policy.json file 'r /etc/ssl/**'`.
    ///
    /// Rules are written in canonical form; a rule already present, or
    /// already allowed by the rules there, is not added (and the output
    /// says so). Every rule is checked first: one bad rule leaves the file
    /// untouched. The file is replaced atomically.
    Allow {
        /// The policy file to edit.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// file, network, process, api or input.
        #[arg(value_name = "CATEGORY")]
        category: String,
        /// Rules in that category's grammar: `r|w|rw GLOB`,
        /// `[udp:]HOST:PORT` or `unix:PATH`, a program path glob,
        /// `service:Action`, an event source such as `aws:sqs`.
        #[arg(value_name = "RULE", required = true)]
        rules: Vec<String>,
    },
    /// Set a policy's mode: profile, alert or block, in a file or at s3://bucket/prefix.
    ///
    /// profile reports each distinct activity once, alert reports what is
    /// not allowed, block denies it (in the categories of the policy's
    /// block list). A file is replaced atomically; with --key its FILE.sig
    /// is rewritten. At an s3:// location the policy is pulled, its mode
    /// changed and pushed back; a signed policy needs --key (the layer
    /// rejects an unsigned change when it requires signatures), and its
    /// signature must verify with that key before it is re-signed.
    Mode {
        /// The policy file, or s3://bucket/prefix (the object prefix/policy.json).
        #[arg(value_name = "FILE|S3_URL")]
        file: PathBuf,
        /// profile, alert or block.
        #[arg(value_name = "MODE")]
        mode: String,
        /// Sign the changed policy with this secret key (from `rampart policy keygen`).
        #[arg(long, value_name = "SECRET_FILE")]
        key: Option<PathBuf>,
        #[command(flatten)]
        pubkey: PubkeyOpt,
        #[command(flatten)]
        s3: S3Opts,
    },
    /// Compare two policies rule by rule.
    ///
    /// Prints the rules only A has (`- rule`) and only B has (`+ rule`),
    /// per category, and mode and block-list differences; a rule the other
    /// policy still allows through a wider rule is marked so. Exit 0 when
    /// they are the same, 1 when they differ, 2 on bad input.
    Diff {
        /// The old policy.
        #[arg(value_name = "A")]
        a: PathBuf,
        /// The new policy.
        #[arg(value_name = "B")]
        b: PathBuf,
    },
    /// Make a signing key pair for policies.
    ///
    /// Writes the secret key to SECRET_FILE (mode 0600; an existing file is
    /// kept unless --force) and prints the public key. Give the public key
    /// to the function as RAMPART_POLICY_KEY: the layer then accepts only
    /// policies signed with the secret key, so a role that can write the
    /// policy bucket still cannot loosen its own policy.
    Keygen {
        /// Where to write the secret key.
        #[arg(short, long, value_name = "SECRET_FILE", required = true)]
        output: PathBuf,
        /// Replace SECRET_FILE if it exists (policies signed with the old key then fail to verify).
        #[arg(long)]
        force: bool,
    },
    /// Sign a policy file: writes FILE.sig next to it.
    ///
    /// The policy is validated first (an invalid one is not signed). The
    /// signature covers the exact bytes of FILE: any later change, even in
    /// whitespace, invalidates it. `rampart policy push` uploads FILE.sig
    /// with the policy.
    Sign {
        /// The policy file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// The secret key (from `rampart policy keygen`).
        #[arg(long, value_name = "SECRET_FILE", required = true)]
        key: PathBuf,
    },
    /// Upload a policy to s3://bucket/prefix, where the layer reads it.
    ///
    /// The policy is validated first: an invalid one is not uploaded. It
    /// is stored byte for byte as prefix/policy.json (content type
    /// application/json), with its signature as the object's user metadata
    /// `rampart-signature`: made with --key, else read from FILE.sig when
    /// that exists. When a public key is known (--pubkey or
    /// RAMPART_POLICY_KEY) the signature is checked before anything is
    /// uploaded, and an unsigned policy is refused. Prints the destination,
    /// the new ETag, the mode and the rule counts.
    Push {
        /// The policy file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// s3://bucket/prefix (the object is prefix/policy.json).
        #[arg(value_name = "S3_URL")]
        location: String,
        /// Sign with this secret key (from `rampart policy keygen`) instead of using FILE.sig.
        #[arg(long, value_name = "SECRET_FILE")]
        key: Option<PathBuf>,
        #[command(flatten)]
        pubkey: PubkeyOpt,
        #[command(flatten)]
        s3: S3Opts,
    },
    /// Download the policy at s3://bucket/prefix.
    ///
    /// Writes it byte for byte to FILE (or standard output) and its
    /// signature, when it has one, to FILE.sig (a stale FILE.sig is
    /// removed). When a public key is known (--pubkey or
    /// RAMPART_POLICY_KEY) the signature must verify, else nothing is
    /// written. A summary goes to standard error when the policy goes to
    /// standard output.
    Pull {
        /// s3://bucket/prefix (the object is prefix/policy.json).
        #[arg(value_name = "S3_URL")]
        location: String,
        /// Write the policy to this file instead of standard output.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        #[command(flatten)]
        pubkey: PubkeyOpt,
        #[command(flatten)]
        s3: S3Opts,
    },
}

/// How the S3 commands find credentials and region: the environment
/// (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,
/// AWS_REGION), else the shared files ~/.aws/credentials and ~/.aws/config
/// (AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE); the endpoint from
/// AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL when set.
#[derive(Args, Debug)]
pub struct S3Opts {
    /// The profile in ~/.aws/credentials and ~/.aws/config (default: AWS_PROFILE, else `default`).
    /// Without it, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment come first.
    #[arg(long, value_name = "P")]
    pub profile: Option<String>,
}

/// The public key signatures are checked with.
#[derive(Args, Debug)]
pub struct PubkeyOpt {
    /// Check the signature with this public key (`ed25519:...`, or a file holding it); default RAMPART_POLICY_KEY.
    #[arg(long, value_name = "KEY")]
    pub pubkey: Option<String>,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    let result = match cli.command {
        Command::Learn(args) => learn::run(args),
        Command::Policy(cmd) => policy::run(cmd),
        Command::Run(args) => run::run(args),
        Command::Instrument(args) => instrument::instrument(args),
        Command::Uninstrument(args) => instrument::uninstrument(args),
    };
    match result {
        Ok(code) => code,
        Err(Fail(msg)) => {
            // One line, always.
            eprintln!("rampart: {}", msg.replace(['\n', '\r'], " "));
            ExitCode::from(2)
        }
    }
}

/// Help and version go to stdout with exit 0; a usage error is one line on
/// stderr with exit 2.
fn usage_error(e: &clap::Error) -> ExitCode {
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            ExitCode::SUCCESS
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand | ErrorKind::MissingSubcommand => {
            eprintln!("rampart: missing command; see `rampart --help`");
            ExitCode::from(2)
        }
        _ => {
            let text = e.render().to_string();
            let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
            let first = lines.next().unwrap_or("invalid arguments");
            let mut first = first.strip_prefix("error: ").unwrap_or(first).to_owned();
            // "the following required arguments were not provided:" names them on the next line.
            if first.ends_with(':')
                && let Some(next) = lines.next()
            {
                first = format!("{first} {next}");
            }
            eprintln!("rampart: {first} (see --help)");
            ExitCode::from(2)
        }
    }
}

//! `rampart`: build allowlist policies from a function's logs, and check,
//! show, edit and compare them. The work is done by the `rampart-learn`
//! and `rampart-policy` crates; this is their command line.
//!
//! Exit codes: 0 success; 1 `policy diff` found differences; 2 bad input
//! (missing or unreadable file, invalid JSON or rule, unknown category or
//! mode, unwritable output), always reported as one line on stderr that
//! starts with `rampart: `.

#![forbid(unsafe_code)]

mod files;
mod learn;
mod policy;
mod run;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::{Args, Parser, Subcommand};

use files::Fail;

/// rampart protects AWS Lambda functions (and any dynamically linked Linux
/// process) at run time: it checks every file open, connection, program
/// launch, AWS API call and invocation input against an allowlist policy.
/// This command learns that policy from the function's logs and checks,
/// shows, edits and compares policy files.
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
    Learn(LearnArgs),
    /// Check, show, edit and compare policy.json files.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Run a command under protection: librampart.so preloaded, with the
    /// policy and mode given here.
    ///
    /// Every dynamically linked program the command starts is covered too.
    /// The library is RAMPART_LIB, or librampart.so next to this binary.
    /// Exit status is the command's; 127 when it cannot be found.
    Run(RunArgs),
}

/// Options of `rampart run`.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// The policy file (RAMPART_POLICY); without it: profile mode, nothing allowed yet.
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
    #[arg(value_name = "LOG")]
    pub logs: Vec<PathBuf>,
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
    /// Set a policy's mode: profile, alert or block.
    ///
    /// profile reports each distinct activity once, alert reports what is
    /// not allowed, block denies it (in the categories of the policy's
    /// block list). The file is replaced atomically.
    Mode {
        /// The policy file to edit.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// profile, alert or block.
        #[arg(value_name = "MODE")]
        mode: String,
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
            let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("invalid arguments");
            let first = first.trim().strip_prefix("error: ").unwrap_or(first.trim());
            eprintln!("rampart: {first} (see --help)");
            ExitCode::from(2)
        }
    }
}

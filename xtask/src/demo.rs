//! `cargo xtask demo`: the learning half of the loop on a shipped sample
//! log — learn a policy from a function's CloudWatch log, check it, show it.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{cargo, paint, root, run, show, target_dir};

const SAMPLE_LOG: &str = "tests/data/orders-cloudwatch.log";

fn section(n: usize, title: &str, sentence: &str) {
    println!("\n{}", paint("1;35", &format!("── {n}. {title} ──")));
    println!("{}", paint("2", sentence));
}

fn rampart(bin: &Path, args: &[&str]) -> Result<(), String> {
    let mut cmd = Command::new(bin);
    cmd.args(args).current_dir(root());
    println!("{}", paint("1", &format!("$ {}", show(&cmd))));
    run(&mut cmd)
}

/// A fresh, empty temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<TempDir, String> {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!("rampart-demo-{}-{nanos}", std::process::id()));
        std::fs::create_dir(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn main(args: &[String]) -> Result<(), String> {
    let keep = match args {
        [] => false,
        [a] if a == "--keep" => true,
        _ => return Err(format!("demo: unknown arguments {args:?} (only --keep)")),
    };
    let log = root().join(SAMPLE_LOG);
    if !log.is_file() {
        return Err(format!("the sample log {SAMPLE_LOG} is missing"));
    }

    section(
        1,
        "Build",
        "rampart is one command-line tool plus a preload library; this builds the command in release mode.",
    );
    let mut build = cargo();
    build.args(["build", "--release", "-p", "rampart-cli", "--bin", "rampart"]);
    println!("{}", paint("1", &format!("$ {}", show(&build))));
    run(&mut build)?;
    let bin = target_dir()?.join("release").join("rampart");
    if !bin.is_file() {
        return Err(format!("the build said it succeeded but {} is not there", bin.display()));
    }

    let tmp = TempDir::new()?;
    let policy = tmp.0.join("policy.json");
    let policy_s = policy.to_string_lossy().into_owned();
    let log_s = log.to_string_lossy().into_owned();

    section(
        2,
        "Learn",
        "In profile mode the layer logs every distinct file, connection, program, AWS call and input of the \
         function; `rampart learn` reads a CloudWatch export of that log (skipping everything else in it) \
         and writes the allowlist, generalising only where it is safe.",
    );
    rampart(&bin, &["learn", "-o", &policy_s, &log_s])?;

    section(
        3,
        "Check",
        "`rampart policy check` validates the policy exactly as the layer will before enforcing it; a bad rule \
         would be named here with its place.",
    );
    rampart(&bin, &["policy", "check", &policy_s])?;

    section(
        4,
        "Show",
        "`rampart policy show` prints what the function will be allowed to do; this is the file to review, \
         then push to S3 with \"mode\": \"alert\" or \"block\".",
    );
    rampart(&bin, &["policy", "show", &policy_s])?;

    if keep {
        let kept = tmp.0.clone();
        std::mem::forget(tmp);
        println!(
            "\n{} {}",
            paint("1;32", "Done."),
            format_args!("The learned policy is kept at {}", kept.join("policy.json").display())
        );
    } else {
        println!("\n{} (run `cargo xtask demo --keep` to keep the learned policy.json)", paint("1;32", "Done."));
    }
    Ok(())
}

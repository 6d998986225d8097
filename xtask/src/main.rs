//! `cargo xtask`: the project's build, test, bench and demo commands.
//!
//! Plain Rust over `std::process::Command`, so it needs nothing but cargo.

mod apibench;
mod bench;
mod demo;
mod hooked;
mod lambdabench;
mod layer;
mod regress;
mod runtimes;
mod s3bench;
mod test;
mod util;

const HELP: &str = "\
cargo xtask — rampart's project commands

USAGE:
    cargo xtask <COMMAND> [OPTIONS]

COMMANDS:
    test     Everything CI runs, failing fast: install rustfmt, clippy and
             cargo-fuzz if missing; cargo fmt --check; clippy -D warnings;
             the layer zips (cargo xtask layer) and the aarch64 library
             under qemu-aarch64 (qemu-user and libc6-arm64-cross from apt
             if missing); cargo test --workspace; the runtimes' own
             regression tests under the library (cargo xtask regress); a
             smoke run of every benchmark; and a bounded run of each fuzz
             target.
               --fuzz-secs N   seconds per fuzz target (default 20;
                               also RAMPART_FUZZ_SECS)
               --no-fuzz       skip the fuzz steps
    bench    Run the criterion benchmarks in full (a few minutes) and print
             the README's Markdown table (ns per query, compile time, heap).
               --table         only print the table from the last results
               -- ARGS         passed to the benchmarks (e.g. a filter)
    bench-hooked
             Microbenchmarks of the calls librampart.so hooks (open+close,
             pipe write+read, socket+connect, fork+exec; C loops in
             benches/hooked/loop.c) bare and under LD_PRELOAD in profile,
             alert and block mode with 10 / 1k / 100k rules, interleaved,
             median of several runs; user-space instructions per allowed
             open, natively (ptrace single-step) and under callgrind;
             peers strace -f, proxychains4, snoopy; cold start of
             python3, node and java. Builds the release library, installs
             missing tools with apt-get (snoopy is only unpacked, never put
             in /etc/ld.so.preload), prints the README table and writes it
             to TARGET/hooked-bench.md (about 8 minutes on 2 cores;
             --smoke writes hooked-bench-smoke.md).
               --smoke         a few thousand iterations, one repetition,
                               no peers or callgrind (well under a minute)
               --reps N        repetitions (default 9); --cold-reps N (20)
               --secs S        length of one bare run (default 0.3)
               --no-peers, --no-callgrind, --no-cold   skip those parts
               --allow-inactive  go on when the library reports nothing
                               (a placeholder; RAMPART_LIB picks the .so)
    bench-s3 What a policy from S3 costs, against s3s-fs on loopback
             (through a local relay, HTTP and HTTPS): sizes of
             librampart.so and librampart_fetch.so; cold start of
             python3 bare, under `rampart run --policy FILE` and under
             the same 1k-rule policy from s3://; time from replacing
             the object to the first EACCES in a running process
             (RAMPART_REFRESH_SECS=1); fork+exec in a process under the
             file vs the S3 policy (children never load the fetcher).
             Prints the table and writes TARGET/bench-s3.md (about a
             minute; --smoke writes bench-s3-smoke.md).
               --smoke         2 starts, 2 changes, 100 execs (seconds)
               --reps N        cold starts per configuration (20)
               --changes K     policy changes each way (10)
               --execs N, --exec-reps N   exec loop size (1000) and runs (5)
    bench-lambda
             What the layer adds to a Lambda function's invocations, under
             AWS's emulator (aws-lambda-rie) with the real runtime clients
             (the fixtures in tests/runtimes/lambda/): a warm no-op
             invocation and the cold start (first invocation after a
             start), bare vs `wrapper` + the release librampart.so in block
             mode with a policy learned from a profile run; one emulator at
             a time, alternating start by start, over a kept-alive
             connection. Checks every answer, one heartbeat line per
             invocation and no block/alert/error line. Prints the table and
             writes TARGET/bench-lambda.md (about 2 minutes; --smoke
             writes bench-lambda-smoke.md).
               --smoke         20 invocations, 2 starts (seconds)
               --invokes N     timed warm invocations per configuration (300)
               --starts K      cold starts per configuration (10)
               --warmup W      untimed invocations after each start (20)
               --runtimes L    e.g. python,node (default: python,node,java,dotnet)
    bench-api
             What the language shims and the library add to one AWS API
             call in process: tests/runtimes/api/bench_calls.{py,js} make
             dynamodb:GetItem calls through boto3 and the AWS SDK for
             JavaScript v3 with the HTTP send answered in process, bare,
             with the shim, with the release librampart.so, and with both
             (block mode, allowed); and the shim's check alone. CPU time
             per call, medians of interleaved runs; installs the SDKs if
             missing. Prints the table and writes TARGET/bench-api.md
             (about a minute; --smoke writes bench-api-smoke.md).
               --smoke         a few calls, one run (seconds)
               --reps N        runs per configuration (5)
    layer    The Lambda layer zips, TARGET/layer/rampart-layer-x86_64.zip
             and rampart-layer-aarch64.zip (rampart/wrapper,
             rampart/lib/ARCH/librampart.so and librampart_fetch.so,
             VERSION, LICENSE, THIRD-PARTY-LICENSES: every crate in the
             libraries with its licence texts; unpacked under /opt).
             Installs ziglang and
             cargo-zigbuild with pip and the rustup targets if missing,
             builds with cargo zigbuild for glibc 2.17, and fails when a
             library imports a symbol newer than GLIBC_2.17 (objdump -T)
             or needs a library beyond libc/libdl/libpthread/libm/ld-linux,
             when the wrapper does not parse under sh -n and bash -n,
             when a crate has no licence text, when two assemblies of
             a zip differ, or when a zip is over
             1.5 MB (aim: 1 MB). Prints each check and each zip's size.
             layer-build/README.md has the details.
               --arm64-test    then run the aarch64 librampart.so from its
                               zip under qemu-aarch64 (tests/tests/
                               layer_arm64.rs; what `test` runs)
    regress  The runtimes' own regression tests under librampart.so:
             CPython's (test_os, test_subprocess, test_shutil, ...) and
             Node.js's (test/parallel/test-{fs,child-process,net,dgram}-*,
             Node.js 20's sources from Debian's nodejs source package),
             each bare, in profile mode and in alert mode with an empty
             policy; fails when any test case's result differs (flaky
             cases, told apart by running them again, are excluded and
             listed). Needs the debug build; about 6 minutes.
             docs/runtime-suites.md; `cargo xtask regress --help`.
    demo     Build rampart, learn a policy from the sample CloudWatch log
             tests/data/orders-cloudwatch.log, then check and show it.
               --keep          keep the learned policy.json
    help     This text (also -h, --help).
";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (cmd, rest) = match args.split_first() {
        Some((c, rest)) => (c.as_str(), rest),
        None => ("help", &[][..]),
    };
    let code = match cmd {
        "test" => match test::Options::parse(rest) {
            Ok(opts) => test::main(opts),
            Err(e) => usage_error(&e),
        },
        "bench" => report(bench::main(rest)),
        "bench-hooked" => report(hooked::main(rest)),
        "bench-s3" => report(s3bench::main(rest)),
        "bench-lambda" => report(lambdabench::main(rest)),
        "bench-api" => report(apibench::main(rest)),
        "demo" => report(demo::main(rest)),
        "layer" => report(layer::main(rest)),
        "regress" => report(regress::main(rest)),
        "help" | "-h" | "--help" => {
            print!("{HELP}");
            0
        }
        other => usage_error(&format!("unknown command `{other}`")),
    };
    std::process::exit(code);
}

fn usage_error(msg: &str) -> i32 {
    eprintln!("cargo xtask: {msg}\n\n{HELP}");
    2
}

fn report(result: Result<(), String>) -> i32 {
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{} {e}", util::paint("1;31", "cargo xtask: error:"));
            1
        }
    }
}

//! `cargo xtask layer`: the Lambda layer zips, one per architecture.
//!
//! The libraries are built with cargo-zigbuild against glibc 2.17 so one
//! build loads on every Lambda runtime (Amazon Linux 2 has 2.26, AL2023
//! 2.34, a plain build here would need the build machine's). What a build
//! could get wrong without anyone noticing until a cold start fails — a
//! newer glibc symbol, an extra needed library, a wrapper bash cannot
//! parse, a zip that changes from build to build or grows — fails the
//! command instead. layer-build/README.md describes the layout.

use std::collections::BTreeSet;
use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::util;

/// What a zip may weigh; the aim is `AIM_BYTES`.
const BUDGET_BYTES: usize = 1_500_000;
const AIM_BYTES: usize = 1_000_000;
/// Lambda's oldest glibc is newer, but 2.17 is what zig's glibc stubs and
/// cargo-zigbuild's suffix pin, and what every check here holds to.
const GLIBC_MAX: (u32, u32, u32) = (2, 17, 0);
/// zlib's best. Above 9 the zip crate uses zopfli: measured 2.3 % smaller
/// for 90 s more per run, not worth it.
const ZIP_LEVEL: i64 = 9;
const PACKAGES: [&str; 2] = ["rampart-preload", "rampart-fetch"];
const LIBS: [&str; 2] = ["librampart.so", "librampart_fetch.so"];
/// Needed libraries every process already has loaded; anything else would
/// be one more file to find and map in every exec'd child.
const ALLOWED_NEEDED: [&str; 4] = ["libc.so.6", "libdl.so.2", "libpthread.so.0", "libm.so.6"];

/// One layer architecture: bash's `$HOSTTYPE` (the `lib/` folder the
/// wrapper looks in) and the Rust target.
struct Arch {
    name: &'static str,
    triple: &'static str,
}

const ARCHES: [Arch; 2] = [
    Arch { name: "x86_64", triple: "x86_64-unknown-linux-gnu" },
    Arch { name: "aarch64", triple: "aarch64-unknown-linux-gnu" },
];

pub fn main(args: &[String]) -> Result<(), String> {
    if let Some(a) = args.first() {
        return Err(format!("`cargo xtask layer` takes no arguments (got `{a}`)"));
    }
    let started = Instant::now();
    let root = util::root();

    step("tools: ziglang, cargo-zigbuild, rustup targets");
    let zigbuild_dir = ensure_zigbuild()?;
    let mut arches: Vec<&Arch> = Vec::new();
    for arch in &ARCHES {
        match ensure_target(arch.triple) {
            Ok(()) => arches.push(arch),
            Err(e) if arch.name != "x86_64" => {
                eprintln!(
                    "{} cannot add the rustup target {} ({e}); building x86_64 only, NO {} LAYER",
                    util::paint("1;33", "warning:"),
                    arch.triple,
                    arch.name
                );
            }
            Err(e) => return Err(e),
        }
    }

    step("build: cargo zigbuild --release (glibc 2.17)");
    let mut cmd = util::cargo();
    cmd.arg("zigbuild").arg("--release");
    for arch in &arches {
        cmd.arg("--target").arg(format!("{}.2.17", arch.triple));
    }
    for p in PACKAGES {
        cmd.args(["-p", p]);
    }
    // Whole-program LTO for the shipped libraries only (the workspace's
    // thin LTO keeps everyday release builds fast): about 0.1 MB less per
    // zip, the difference between over and under the 1.5 MB budget.
    cmd.env("CARGO_PROFILE_RELEASE_LTO", "fat");
    println!("$ CARGO_PROFILE_RELEASE_LTO=fat {}", util::show(&cmd));
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![zigbuild_dir];
    dirs.extend(std::env::split_paths(&path));
    cmd.env("PATH", std::env::join_paths(dirs).map_err(|e| format!("PATH: {e}"))?);
    util::run(&mut cmd)?;

    let target = util::target_dir()?;
    step("checks: glibc symbol versions, needed libraries, wrapper");
    let mut problems = Vec::new();
    for arch in &arches {
        for lib in LIBS {
            let so = target.join(arch.triple).join("release").join(lib);
            if let Err(e) = check_library(&so, arch, lib) {
                problems.push(e);
            }
        }
    }
    let wrapper = root.join("shims/wrapper");
    for shell in ["sh", "bash"] {
        match util::output(Command::new(shell).arg("-n").arg(&wrapper)) {
            Ok(_) => println!("  shims/wrapper: `{shell} -n` parses it"),
            Err(e) => problems.push(format!("shims/wrapper does not parse with `{shell} -n`: {e}")),
        }
    }
    if !problems.is_empty() {
        return Err(format!("layer checks failed:\n  - {}", problems.join("\n  - ")));
    }

    step("zips");
    let out_dir = target.join("layer");
    std::fs::create_dir_all(&out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
    let common = common_files(&root)?;
    let mut over = Vec::new();
    for arch in &arches {
        let files = arch_files(&common, &target, arch)?;
        let first = zip_bytes(&files)?;
        let second = zip_bytes(&files)?;
        if first != second {
            return Err(format!("the {} zip is not reproducible: two assemblies differ", arch.name));
        }
        let zip = out_dir.join(format!("rampart-layer-{}.zip", arch.name));
        let previous = std::fs::read(&zip).ok();
        std::fs::write(&zip, &first).map_err(|e| format!("{}: {e}", zip.display()))?;
        let same = match previous {
            Some(p) if p == first => "same bytes as the previous build",
            Some(_) => "differs from the previous build",
            None => "no previous build",
        };
        let size = first.len();
        let aim = if size <= AIM_BYTES { "within the 1 MB aim".to_owned() } else { "over the 1 MB aim".to_owned() };
        println!(
            "  {}: {size} bytes ({:.2} MB; budget 1.5 MB, {aim}); two assemblies byte-identical; {same}",
            zip.display(),
            size as f64 / 1e6
        );
        if size > BUDGET_BYTES {
            over.push(format!("{} is {size} bytes, over the 1.5 MB budget ({BUDGET_BYTES} bytes)", zip.display()));
        }
    }
    if !over.is_empty() {
        return Err(over.join("; "));
    }
    let built: Vec<&str> = arches.iter().map(|a| a.name).collect();
    println!("layer zips for {} in {}", built.join(", "), util::fmt_duration(started.elapsed()));
    Ok(())
}

fn step(what: &str) {
    println!("{}", util::paint("1;36", &format!("==> layer: {what}")));
}

/// Installs ziglang and cargo-zigbuild with pip when missing; returns the
/// directory holding `cargo-zigbuild` (pip's scripts directory, which need
/// not be on PATH), so `cargo zigbuild` finds it. cargo-zigbuild itself
/// runs zig as `python3 -m ziglang` when no `zig` is on PATH.
fn ensure_zigbuild() -> Result<PathBuf, String> {
    if !util::succeeds(Command::new("python3").args(["-m", "ziglang", "version"])) {
        pip_install("ziglang")?;
    }
    let zig = util::output(Command::new("python3").args(["-m", "ziglang", "version"]))?;
    let dir = match find_zigbuild()? {
        Some(d) => d,
        None => {
            pip_install("cargo-zigbuild")?;
            find_zigbuild()?.ok_or("pip installed cargo-zigbuild, but no cargo-zigbuild binary was found on PATH or in pip's scripts directories")?
        }
    };
    let version = util::output(Command::new(dir.join("cargo-zigbuild")).arg("--version"))?;
    println!("  zig {} (python3 -m ziglang), {} ({})", zig.trim(), version.trim(), dir.display());
    Ok(dir)
}

fn pip_install(package: &str) -> Result<(), String> {
    println!("  installing {package} from PyPI");
    util::run(Command::new("python3").args(["-m", "pip", "install", "--disable-pip-version-check", package]))
}

/// PATH first, then python's scripts directories (the default scheme and
/// the `--user` one).
fn find_zigbuild() -> Result<Option<PathBuf>, String> {
    let mut dirs: Vec<PathBuf> =
        std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect()).unwrap_or_default();
    let script = "import os, sysconfig\n\
                  print(sysconfig.get_path('scripts'))\n\
                  print(sysconfig.get_path('scripts', os.name + '_user'))";
    let out = util::output(Command::new("python3").args(["-c", script]))?;
    dirs.extend(out.lines().filter(|l| !l.trim().is_empty()).map(PathBuf::from));
    Ok(dirs.into_iter().find(|d| d.join("cargo-zigbuild").is_file()))
}

fn ensure_target(triple: &str) -> Result<(), String> {
    let installed = util::output(Command::new("rustup").args(["target", "list", "--installed"]))?;
    if installed.lines().any(|l| l.trim() == triple) {
        println!("  rustup target {triple}: installed");
        return Ok(());
    }
    println!("  rustup target add {triple}");
    util::run(Command::new("rustup").args(["target", "add", triple]))
}

/// The glibc and needed-library checks for one built library; prints what
/// it found either way.
fn check_library(so: &Path, arch: &Arch, lib: &str) -> Result<(), String> {
    let label = format!("{}/{lib}", arch.name);
    let symbols = util::output(Command::new("objdump").arg("-T").arg(so))?;
    let (versions, private) = glibc_versions(&symbols);
    let newest = versions.iter().next_back().copied();
    let too_new: Vec<String> = versions.iter().filter(|v| **v > GLIBC_MAX).map(|v| fmt_glibc(*v)).collect();
    println!(
        "  {label}: glibc versions {}; newest {}",
        versions.iter().map(|v| fmt_glibc(*v)).collect::<Vec<_>>().join(" "),
        newest.map(fmt_glibc).unwrap_or_else(|| "none".into())
    );
    let mut problems = Vec::new();
    if !too_new.is_empty() {
        let names = symbols_newer(&symbols);
        problems.push(format!(
            "{label} needs {} (newer than GLIBC_{}.{}): {}",
            too_new.join(", "),
            GLIBC_MAX.0,
            GLIBC_MAX.1,
            names.join(", ")
        ));
    }
    if private {
        problems.push(format!("{label} uses GLIBC_PRIVATE symbols, which differ between glibc builds"));
    }
    let headers = util::output(Command::new("objdump").arg("-p").arg(so))?;
    let needed: Vec<&str> = headers.lines().filter_map(|l| l.trim().strip_prefix("NEEDED")).map(str::trim).collect();
    println!("  {label}: NEEDED {}", needed.join(" "));
    for n in &needed {
        let allowed = ALLOWED_NEEDED.contains(n)
            || n.starts_with("ld-linux")
            || (lib == "librampart_fetch.so" && n.starts_with("libgcc_s.so"));
        if !allowed {
            problems.push(format!("{label} needs {n}: only libc, libdl, libpthread, libm and ld-linux are allowed"));
        }
    }
    if problems.is_empty() { Ok(()) } else { Err(problems.join("\n  - ")) }
}

/// Every `GLIBC_x.y[.z]` version the dynamic symbol table refers to, as
/// (major, minor, patch), and whether any is `GLIBC_PRIVATE`.
fn glibc_versions(objdump_t: &str) -> (BTreeSet<(u32, u32, u32)>, bool) {
    let mut versions = BTreeSet::new();
    let mut private = false;
    for line in objdump_t.lines() {
        for word in line.split(|c: char| c.is_whitespace() || c == '(' || c == ')') {
            if word == "GLIBC_PRIVATE" {
                private = true;
            } else if let Some(v) = word.strip_prefix("GLIBC_").and_then(parse_version) {
                versions.insert(v);
            }
        }
    }
    (versions, private)
}

fn parse_version(v: &str) -> Option<(u32, u32, u32)> {
    let mut parts = v.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    let patch = match parts.next() {
        Some(p) => p.parse().ok()?,
        None => 0,
    };
    parts.next().is_none().then_some((major, minor, patch))
}

fn fmt_glibc((major, minor, patch): (u32, u32, u32)) -> String {
    if patch == 0 { format!("GLIBC_{major}.{minor}") } else { format!("GLIBC_{major}.{minor}.{patch}") }
}

/// The symbols behind a too-new version, for the error message.
fn symbols_newer(objdump_t: &str) -> Vec<String> {
    objdump_t
        .lines()
        .filter(|l| glibc_versions(l).0.iter().any(|v| *v > GLIBC_MAX))
        .filter_map(|l| l.split_whitespace().last().map(str::to_owned))
        .collect()
}

/// One zip entry: its path in the zip, its mode, its bytes (`None`: a
/// directory).
struct Entry {
    name: String,
    mode: u32,
    data: Option<Vec<u8>>,
}

/// The wrapper, VERSION and LICENSE, the same in every zip.
fn common_files(root: &Path) -> Result<Vec<Entry>, String> {
    let read = |p: &Path| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
    let commit = util::output(Command::new("git").current_dir(root).args(["rev-parse", "HEAD"]))
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unknown".into());
    let dirty =
        util::output(Command::new("git").current_dir(root).args(["status", "--porcelain", "--untracked-files=no"]))
            .is_ok_and(|s| !s.trim().is_empty());
    let version = format!(
        "rampart {}\ncommit {commit}{}\n",
        env!("CARGO_PKG_VERSION"),
        if dirty { " (with uncommitted changes)" } else { "" }
    );
    // The repository's own licence text when it has one; until then the
    // Apache-2.0 notice naming the licence and where to read it.
    let license = ["LICENSE", "LICENSE-APACHE", "layer-build/NOTICE"]
        .iter()
        .map(|p| root.join(p))
        .find(|p| p.is_file())
        .ok_or("no LICENSE and no layer-build/NOTICE")?;
    Ok(vec![
        Entry { name: "rampart/".into(), mode: 0o755, data: None },
        Entry { name: "rampart/LICENSE".into(), mode: 0o644, data: Some(read(&license)?) },
        Entry { name: "rampart/VERSION".into(), mode: 0o644, data: Some(version.into_bytes()) },
        Entry { name: "rampart/wrapper".into(), mode: 0o755, data: Some(read(&root.join("shims/wrapper"))?) },
    ])
}

fn arch_files(common: &[Entry], target: &Path, arch: &Arch) -> Result<Vec<Entry>, String> {
    let mut files: Vec<Entry> =
        common.iter().map(|e| Entry { name: e.name.clone(), mode: e.mode, data: e.data.clone() }).collect();
    files.push(Entry { name: "rampart/lib/".into(), mode: 0o755, data: None });
    files.push(Entry { name: format!("rampart/lib/{}/", arch.name), mode: 0o755, data: None });
    for lib in LIBS {
        let p = target.join(arch.triple).join("release").join(lib);
        let data = std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        files.push(Entry { name: format!("rampart/lib/{}/{lib}", arch.name), mode: 0o755, data: Some(data) });
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(files)
}

/// The zip in memory: entries in name order, 1980-01-01 00:00 (zip's
/// earliest time) on every entry, fixed modes, no extra fields.
fn zip_bytes(entries: &[Entry]) -> Result<Vec<u8>, String> {
    use zip::write::SimpleFileOptions;
    let zerr = |e: zip::result::ZipError| format!("zip: {e}");
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for e in entries {
        let opts = SimpleFileOptions::default()
            .last_modified_time(zip::DateTime::default())
            .unix_permissions(e.mode)
            .compression_method(zip::CompressionMethod::Deflated)
            .compression_level(Some(ZIP_LEVEL));
        match &e.data {
            None => w.add_directory(e.name.trim_end_matches('/'), opts).map_err(zerr)?,
            Some(data) => {
                w.start_file(e.name.as_str(), opts).map_err(zerr)?;
                w.write_all(data).map_err(|err| format!("zip: {err}"))?;
            }
        }
    }
    Ok(w.finish().map_err(zerr)?.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glibc_versions_are_parsed_and_ordered() {
        let t = "0000 DF *UND* 0000 (GLIBC_2.2.5) free\n\
                 0000 DF *UND* 0000 (GLIBC_2.17) clock_gettime\n\
                 0000 DF *UND* 0000 (GLIBC_2.34) pthread_create\n\
                 0000 g DF .text 0000 Base open\n";
        let (v, private) = glibc_versions(t);
        assert_eq!(v.into_iter().collect::<Vec<_>>(), vec![(2, 2, 5), (2, 17, 0), (2, 34, 0)]);
        assert!(!private);
        assert_eq!(symbols_newer(t), vec!["pthread_create"]);
        assert!(glibc_versions("0 DF *UND* 0 (GLIBC_PRIVATE) _dl_x").1);
    }

    #[test]
    fn zips_are_byte_identical_and_readable() {
        let entries = vec![
            Entry { name: "rampart/".into(), mode: 0o755, data: None },
            Entry { name: "rampart/wrapper".into(), mode: 0o755, data: Some(b"#!/bin/bash\n".to_vec()) },
        ];
        let a = zip_bytes(&entries).unwrap();
        assert_eq!(a, zip_bytes(&entries).unwrap());
        let mut z = zip::ZipArchive::new(Cursor::new(a)).unwrap();
        let f = z.by_name("rampart/wrapper").unwrap();
        assert_eq!(f.unix_mode().map(|m| m & 0o777), Some(0o755));
    }
}

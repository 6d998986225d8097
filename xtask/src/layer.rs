//! `cargo xtask layer`: the Lambda layer zips, one per architecture.
//!
//! The libraries are built with cargo-zigbuild against glibc 2.17 so one
//! build loads on every Lambda runtime (Amazon Linux 2 has 2.26, AL2023
//! 2.34, a plain build here would need the build machine's). What a build
//! could get wrong without anyone noticing until a cold start fails — a
//! newer glibc symbol, an extra needed library, a wrapper bash cannot
//! parse, a zip that changes from build to build or grows — fails the
//! command instead. layer-build/README.md describes the layout.

use std::collections::{BTreeMap, BTreeSet};
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
/// The opt-level (TOML) of the packages only librampart_fetch.so links
/// (rustls, ring, ureq, the SigV4 and signature crates, the fetcher): it
/// runs one conditional HTTPS GET per refresh, off every hot path, and
/// "s" makes its library 0.36 MB (17 %) smaller, 0.14 MB of each zip.
/// librampart.so's packages keep the release profile's 3: its hooks run
/// on every open, connect and exec.
const FETCHER_OPT_LEVEL: &str = "\"s\"";
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
    let mut then_arm64_test = false;
    for a in args {
        match a.as_str() {
            "--arm64-test" => then_arm64_test = true,
            other => return Err(format!("`cargo xtask layer`: unknown argument `{other}` (only --arm64-test)")),
        }
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

    step("dependencies: cargo metadata per target");
    let mut metas: BTreeMap<&str, serde_json::Value> = BTreeMap::new();
    let mut small = BTreeSet::new();
    for arch in &arches {
        let meta = metadata(arch.triple)?;
        small.extend(fetcher_only(&meta)?);
        metas.insert(arch.name, meta);
    }
    println!(
        "  opt-level {FETCHER_OPT_LEVEL} for the {} packages only the fetcher links: {}",
        small.len(),
        small.iter().cloned().collect::<Vec<_>>().join(" ")
    );

    step("build: cargo zigbuild --release (glibc 2.17)");
    let mut cmd = util::cargo();
    cmd.arg("zigbuild").arg("--release");
    for name in &small {
        cmd.arg("--config").arg(format!("profile.release.package.{name}.opt-level={FETCHER_OPT_LEVEL}"));
    }
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
    println!("$ {}", util::show(&cmd));
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

    step("third-party licences: cargo metadata, the crates' licence files");
    let mut notices = Vec::new();
    for arch in &arches {
        let notice = third_party_notice(arch, &metas[arch.name])?;
        println!(
            "  {}: {} crates, {} licence files ({} distinct), {} bytes of rampart/THIRD-PARTY-LICENSES",
            arch.name,
            notice.crates,
            notice.files,
            notice.distinct,
            notice.text.len()
        );
        notices.push(notice.text);
    }

    step("zips");
    let out_dir = target.join("layer");
    std::fs::create_dir_all(&out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
    let common = common_files(&root)?;
    let mut over = Vec::new();
    for (arch, notice) in arches.iter().zip(notices) {
        let files = arch_files(&common, &target, arch, notice)?;
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
    if then_arm64_test {
        step("arm64: librampart.so from the aarch64 zip under qemu-aarch64");
        arm64_test()?;
    }
    Ok(())
}

/// Where Debian's `libc6-arm64-cross` puts the arm64 glibc (qemu's `-L`).
const ARM64_SYSROOT: &str = "/usr/aarch64-linux-gnu";
/// The suites and tests that run the aarch64 library under qemu: the
/// hooks, and the calls through a dlopen handle and `syscall()` (whose
/// trampolines are written per architecture).
const ARM64_TESTS: [(&str, &str); 2] = [
    ("layer_arm64", "arm64_library_blocks_and_allows_open_connect_exec_under_qemu"),
    ("evasion_loader", "native_code_through_a_handle_and_syscall_on_aarch64"),
];

/// `cargo xtask test`'s `layer-arm64` step, after `layer`: installs
/// qemu-user and the arm64 glibc with apt when missing, takes
/// `librampart.so` out of the aarch64 zip (the bytes users get) and runs
/// the `#[ignore]`d tests/tests/layer_arm64.rs on it. The program is
/// compiled with zig (`python3 -m ziglang cc`), which the layer build has
/// installed already; it fails unless the test really ran and passed.
pub fn arm64_test() -> Result<(), String> {
    let qemu_ok = util::succeeds(Command::new("qemu-aarch64").arg("--version"));
    let glibc_ok = Path::new(ARM64_SYSROOT).join("lib/ld-linux-aarch64.so.1").is_file();
    let missing: Vec<&str> = [(qemu_ok, "qemu-user"), (glibc_ok, "libc6-arm64-cross")]
        .iter()
        .filter(|(ok, _)| !ok)
        .map(|&(_, p)| p)
        .collect();
    if missing.is_empty() {
        println!("    qemu-user, libc6-arm64-cross: installed");
    } else {
        println!("    {}: missing, installing", missing.join(", "));
        crate::runtimes::apt_install_all(&missing)?;
    }
    let qemu = util::output(Command::new("qemu-aarch64").arg("--version"))?;
    println!("    {}", qemu.lines().next().unwrap_or_default());

    let target = util::target_dir()?;
    let zip = target.join("layer/rampart-layer-aarch64.zip");
    let lib = target.join("layer/arm64-test/librampart.so");
    let bytes = std::fs::read(&zip).map_err(|e| format!("{}: {e} (run `cargo xtask layer` first)", zip.display()))?;
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| format!("{}: {e}", zip.display()))?;
    let mut entry =
        archive.by_name("rampart/lib/aarch64/librampart.so").map_err(|e| format!("{}: {e}", zip.display()))?;
    let mut data = Vec::new();
    std::io::Read::read_to_end(&mut entry, &mut data).map_err(|e| format!("{}: {e}", zip.display()))?;
    std::fs::create_dir_all(lib.parent().unwrap_or(&target)).map_err(|e| format!("{}: {e}", lib.display()))?;
    std::fs::write(&lib, &data).map_err(|e| format!("{}: {e}", lib.display()))?;
    println!("    {} from {} ({} bytes)", lib.display(), zip.display(), data.len());

    for (suite, test) in ARM64_TESTS {
        let mut cmd = util::cargo();
        cmd.args(["test", "-p", "rampart-tests", "--test", suite, "--", "--ignored", "--exact", test])
            .env("RAMPART_ARM64_LIB", &lib);
        println!("    {}", util::show(&cmd));
        let out = cmd.output().map_err(|e| format!("cannot start `{}`: {e}", util::show(&cmd)))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        print!("{stdout}");
        eprint!("{}", String::from_utf8_lossy(&out.stderr));
        if !out.status.success() {
            return Err(format!("`{}` failed ({})", util::show(&cmd), out.status));
        }
        // A renamed test would leave `--exact` nothing to run, and exit 0.
        if !stdout.lines().any(|l| l.starts_with("test result: ok. 1 passed")) {
            return Err(format!("`{}` ran no test: is {test} still in tests/tests/{suite}.rs?", util::show(&cmd)));
        }
    }
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

/// What `rampart/THIRD-PARTY-LICENSES` of one zip says, and counts for
/// the build's output.
struct Notice {
    text: String,
    crates: usize,
    files: usize,
    distinct: usize,
}

/// A crate compiled into the libraries: what its manifest says and the
/// licence files found in its source directory.
#[derive(Debug)]
struct ThirdParty {
    name: String,
    version: String,
    /// The SPDX expression of `license`, else `license-file`'s name.
    license: Option<String>,
    repository: Option<String>,
    /// (file name, text), sorted by name.
    texts: Vec<(String, String)>,
}

/// File names (any case) that hold licence texts, notices and copyright
/// statements.
const LICENSE_PREFIXES: [&str; 6] = ["LICENSE", "LICENCE", "COPYING", "NOTICE", "UNLICENSE", "COPYRIGHT"];

/// The third-party crates of [`PACKAGES`] for `arch` from `cargo metadata
/// --filter-platform`, with their licence texts; fails when a crate has no
/// licence text (or no licence at all in its manifest).
fn third_party_notice(arch: &Arch, meta: &serde_json::Value) -> Result<Notice, String> {
    let ids = normal_dependencies(meta, &PACKAGES)?;
    let mut crates = Vec::new();
    let mut missing = Vec::new();
    for id in ids {
        let Some(pkg) = meta["packages"].as_array().into_iter().flatten().find(|p| p["id"] == id.as_str()) else {
            return Err(format!("cargo metadata: no package {id}"));
        };
        let krate = read_third_party(pkg)?;
        if krate.texts.is_empty() || krate.license.is_none() {
            missing.push(format!("{} {}", krate.name, krate.version));
        }
        crates.push(krate);
    }
    if !missing.is_empty() {
        return Err(format!(
            "no licence text (a {} file beside Cargo.toml) or no licence in the manifest for: {}; \
             the {} zip cannot ship them without one",
            LICENSE_PREFIXES.join("*/"),
            missing.join(", "),
            arch.name
        ));
    }
    crates.sort_by(|a, b| (&a.name, &a.version).cmp(&(&b.name, &b.version)));
    Ok(render_notice(&crates, arch.triple))
}

/// The ids of every package reachable from the workspace packages named
/// `roots` through normal dependencies (not build or dev ones) on the
/// platform `cargo metadata` was filtered for, the workspace's own packages
/// left out. Proc-macro crates are normal dependencies and stay in: their
/// generated code is in the libraries. Features are cargo metadata's,
/// unified over the workspace, so a crate only another member's features
/// bring in may be listed; none the libraries link is left out.
fn normal_dependencies(meta: &serde_json::Value, roots: &[&str]) -> Result<BTreeSet<String>, String> {
    let members = workspace_members(meta);
    Ok(reachable(meta, roots)?.into_iter().filter(|id| !members.contains(id.as_str())).collect())
}

fn workspace_members(meta: &serde_json::Value) -> BTreeSet<&str> {
    meta["workspace_members"].as_array().into_iter().flatten().filter_map(|v| v.as_str()).collect()
}

/// The ids reachable from `roots` (workspace members included) through
/// normal dependencies.
fn reachable(meta: &serde_json::Value, roots: &[&str]) -> Result<BTreeSet<String>, String> {
    let members = workspace_members(meta);
    let packages = meta["packages"].as_array().ok_or("cargo metadata: no packages")?;
    let name_of = |id: &str| packages.iter().find(|p| p["id"] == id).and_then(|p| p["name"].as_str());
    let nodes = meta["resolve"]["nodes"].as_array().ok_or("cargo metadata: no resolve graph")?;
    let node = |id: &str| nodes.iter().find(|n| n["id"] == id);
    let mut stack: Vec<String> = Vec::new();
    for root in roots {
        let id = members
            .iter()
            .find(|id| name_of(id) == Some(root))
            .ok_or_else(|| format!("cargo metadata: {root} is not a workspace member"))?;
        stack.push((*id).to_owned());
    }
    let mut seen = BTreeSet::new();
    while let Some(id) = stack.pop() {
        if !seen.insert(id.clone()) {
            continue;
        }
        let n = node(&id).ok_or_else(|| format!("cargo metadata: {id} is not in the resolve graph"))?;
        for dep in n["deps"].as_array().into_iter().flatten() {
            let normal = dep["dep_kinds"].as_array().into_iter().flatten().any(|k| k["kind"].is_null());
            if let (true, Some(pkg)) = (normal, dep["pkg"].as_str()) {
                stack.push(pkg.to_owned());
            }
        }
    }
    Ok(seen)
}

/// The names of the packages only the fetcher links: reachable from
/// rampart-fetch and, under no version, from rampart-preload. A profile
/// override by name applies to every version of that name, so a name the
/// preload library also uses is left out.
fn fetcher_only(meta: &serde_json::Value) -> Result<BTreeSet<String>, String> {
    let packages = meta["packages"].as_array().ok_or("cargo metadata: no packages")?;
    let names = |ids: BTreeSet<String>| -> BTreeSet<String> {
        ids.iter()
            .filter_map(|id| packages.iter().find(|p| p["id"] == id.as_str()))
            .filter_map(|p| p["name"].as_str().map(str::to_owned))
            .collect()
    };
    let fetch = names(reachable(meta, &["rampart-fetch"])?);
    let preload = names(reachable(meta, &["rampart-preload"])?);
    Ok(fetch.difference(&preload).cloned().collect())
}

/// `cargo metadata` for one target platform (the lock file as it is).
fn metadata(triple: &str) -> Result<serde_json::Value, String> {
    let text = util::output(util::cargo().args([
        "metadata",
        "--format-version",
        "1",
        "--locked",
        "--filter-platform",
        triple,
    ]))?;
    serde_json::from_str(&text).map_err(|e| format!("cargo metadata: {e}"))
}

/// One package of `cargo metadata`, with the licence files of its source
/// directory (and a `license-file` elsewhere in it, and the files of a
/// `LICENSES/` folder).
fn read_third_party(pkg: &serde_json::Value) -> Result<ThirdParty, String> {
    let field = |k: &str| pkg[k].as_str().map(str::to_owned);
    let name = field("name").unwrap_or_default();
    let version = field("version").unwrap_or_default();
    let manifest = PathBuf::from(field("manifest_path").ok_or_else(|| format!("{name}: no manifest_path"))?);
    let dir = manifest.parent().ok_or_else(|| format!("{name}: manifest has no directory"))?;
    let mut paths: BTreeSet<PathBuf> = BTreeSet::new();
    let mut add_dir = |d: &Path, all: bool| -> Result<(), String> {
        for entry in std::fs::read_dir(d).map_err(|e| format!("{}: {e}", d.display()))? {
            let entry = entry.map_err(|e| format!("{}: {e}", d.display()))?;
            let file = entry.file_name().to_string_lossy().to_uppercase();
            if entry.path().is_file() && (all || LICENSE_PREFIXES.iter().any(|p| file.starts_with(p))) {
                paths.insert(entry.path());
            }
        }
        Ok(())
    };
    add_dir(dir, false)?;
    if dir.join("LICENSES").is_dir() {
        add_dir(&dir.join("LICENSES"), true)?;
    }
    let license_file = field("license_file");
    if let Some(f) = &license_file {
        let p = dir.join(f);
        if p.is_file() {
            paths.insert(p);
        }
    }
    let mut texts = Vec::new();
    for p in paths {
        let rel = p.strip_prefix(dir).unwrap_or(&p).to_string_lossy().into_owned();
        let bytes = std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        texts.push((rel, String::from_utf8_lossy(&bytes).replace("\r\n", "\n")));
    }
    let license = field("license").or_else(|| license_file.map(|f| format!("see {f}")));
    Ok(ThirdParty { name, version, license, repository: field("repository"), texts })
}

/// The notice: a table of the crates, then every licence file, in crate
/// (name, version) order; a text identical to one already written is
/// named, not repeated.
fn render_notice(crates: &[ThirdParty], triple: &str) -> Notice {
    let rule = "=".repeat(78);
    let mut out = format!(
        "Third-party software in librampart.so and librampart_fetch.so ({triple})\n\n\
         These crates are compiled into the two libraries: the normal dependencies of\n\
         rampart-preload and rampart-fetch for this target, from `cargo metadata`\n\
         (proc-macro crates included). Each is used under the licence its manifest\n\
         names (an SPDX expression: OR means a choice, AND means all apply); the\n\
         licence files of each crate follow the list. rampart's own crates are under\n\
         rampart/LICENSE.\n\n"
    );
    let width = crates.iter().map(|c| c.name.len() + c.version.len() + 1).max().unwrap_or(0);
    for c in crates {
        let id = format!("{} {}", c.name, c.version);
        let license = c.license.as_deref().unwrap_or("-");
        match &c.repository {
            Some(repo) => out.push_str(&format!("{id:<width$}  {license}  {repo}\n")),
            None => out.push_str(&format!("{id:<width$}  {license}\n")),
        }
    }
    let mut first_seen: BTreeMap<&str, String> = BTreeMap::new();
    let mut files = 0;
    for c in crates {
        for (file, text) in &c.texts {
            files += 1;
            let here = format!("{} {}: {file}", c.name, c.version);
            out.push_str(&format!("\n{rule}\n{here}\n{rule}\n"));
            match first_seen.get(text.as_str()) {
                Some(there) => out.push_str(&format!("(the same text as {there} above)\n")),
                None => {
                    out.push_str(text);
                    if !text.ends_with('\n') {
                        out.push('\n');
                    }
                    first_seen.insert(text, here);
                }
            }
        }
    }
    Notice { text: out, crates: crates.len(), files, distinct: first_seen.len() }
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
    let mut entries = vec![
        Entry { name: "rampart/".into(), mode: 0o755, data: None },
        Entry { name: "rampart/LICENSE".into(), mode: 0o644, data: Some(read(&license)?) },
        Entry { name: "rampart/VERSION".into(), mode: 0o644, data: Some(version.into_bytes()) },
        Entry { name: "rampart/wrapper".into(), mode: 0o755, data: Some(read(&root.join("shims/wrapper"))?) },
    ];
    // The language shims the wrapper puts on the runtimes' paths: every
    // regular file of shims/python and shims/node (no __pycache__).
    for dir in SHIM_DIRS {
        entries.push(Entry { name: format!("rampart/{dir}/"), mode: 0o755, data: None });
        let from = root.join("shims").join(dir);
        let listing = std::fs::read_dir(&from).map_err(|e| format!("{}: {e}", from.display()))?;
        for entry in listing {
            let entry = entry.map_err(|e| format!("{}: {e}", from.display()))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.file_type().is_ok_and(|t| t.is_file()) && !name.starts_with('.') {
                entries.push(Entry {
                    name: format!("rampart/{dir}/{name}"),
                    mode: 0o644,
                    data: Some(read(&entry.path())?),
                });
            }
        }
    }
    Ok(entries)
}

/// The folders of `shims/` that go into the layer as they are.
const SHIM_DIRS: [&str; 2] = ["python", "node"];

fn arch_files(common: &[Entry], target: &Path, arch: &Arch, notice: String) -> Result<Vec<Entry>, String> {
    let mut files: Vec<Entry> =
        common.iter().map(|e| Entry { name: e.name.clone(), mode: e.mode, data: e.data.clone() }).collect();
    files.push(Entry { name: "rampart/THIRD-PARTY-LICENSES".into(), mode: 0o644, data: Some(notice.into_bytes()) });
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

    #[test]
    fn only_normal_dependencies_of_the_roots_are_followed() {
        let normal = serde_json::json!([{"kind": null, "target": null}]);
        let build = serde_json::json!([{"kind": "build", "target": null}]);
        let meta = serde_json::json!({
            "workspace_members": ["lib", "cli"],
            "packages": [
                {"id": "lib", "name": "rampart-preload"}, {"id": "cli", "name": "rampart-cli"},
                {"id": "a", "name": "a"}, {"id": "b", "name": "b"}, {"id": "cc", "name": "cc"},
                {"id": "clap", "name": "clap"}
            ],
            "resolve": {"nodes": [
                {"id": "lib", "deps": [{"pkg": "a", "dep_kinds": normal}, {"pkg": "cc", "dep_kinds": build}]},
                {"id": "a", "deps": [{"pkg": "b", "dep_kinds": normal}]},
                {"id": "b", "deps": []}, {"id": "cc", "deps": []},
                {"id": "cli", "deps": [{"pkg": "clap", "dep_kinds": normal}, {"pkg": "lib", "dep_kinds": normal}]},
                {"id": "clap", "deps": []}
            ]}
        });
        let got = normal_dependencies(&meta, &["rampart-preload"]).unwrap();
        assert_eq!(got.into_iter().collect::<Vec<_>>(), vec!["a", "b"]);
        assert!(normal_dependencies(&meta, &["nope"]).is_err());
    }

    #[test]
    fn identical_licence_texts_are_written_once() {
        let krate = |name: &str, texts: &[(&str, &str)]| ThirdParty {
            name: name.into(),
            version: "1.0.0".into(),
            license: Some("MIT".into()),
            repository: None,
            texts: texts.iter().map(|(f, t)| (f.to_string(), t.to_string())).collect(),
        };
        let crates = [krate("a", &[("LICENSE-MIT", "mit text\n")]), krate("b", &[("LICENSE", "mit text\n")])];
        let n = render_notice(&crates, "x86_64-unknown-linux-gnu");
        assert_eq!((n.crates, n.files, n.distinct), (2, 2, 1));
        assert_eq!(n.text.matches("mit text").count(), 1);
        assert!(n.text.contains("b 1.0.0: LICENSE\n"));
        assert!(n.text.contains("(the same text as a 1.0.0: LICENSE-MIT above)"));
        assert_eq!(n.text, render_notice(&crates, "x86_64-unknown-linux-gnu").text);
    }

    #[test]
    fn fetcher_only_leaves_out_every_name_the_preload_library_uses() {
        let normal = serde_json::json!([{"kind": null, "target": null}]);
        let meta = serde_json::json!({
            "workspace_members": ["pre", "fetch"],
            "packages": [
                {"id": "pre", "name": "rampart-preload"}, {"id": "fetch", "name": "rampart-fetch"},
                {"id": "sha2-9", "name": "sha2"}, {"id": "sha2-10", "name": "sha2"},
                {"id": "ring", "name": "ring"}, {"id": "libc", "name": "libc"}
            ],
            "resolve": {"nodes": [
                {"id": "pre", "deps": [{"pkg": "sha2-9", "dep_kinds": normal}, {"pkg": "libc", "dep_kinds": normal}]},
                {"id": "fetch", "deps": [
                    {"pkg": "sha2-10", "dep_kinds": normal}, {"pkg": "ring", "dep_kinds": normal},
                    {"pkg": "libc", "dep_kinds": normal}
                ]},
                {"id": "sha2-9", "deps": []}, {"id": "sha2-10", "deps": []},
                {"id": "ring", "deps": []}, {"id": "libc", "deps": []}
            ]}
        });
        let got = fetcher_only(&meta).unwrap();
        assert_eq!(got.into_iter().collect::<Vec<_>>(), vec!["rampart-fetch", "ring"]);
    }
}

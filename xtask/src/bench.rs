//! `cargo xtask bench`: run the criterion benches and print the README
//! table from their results.

use std::collections::BTreeMap;
use std::path::Path;

use crate::util::{cargo, fmt_ns, run, size_label, target_dir};

/// Policy sizes (rules per category): the table's columns.
const SIZES: [u64; 3] = [10, 1_000, 100_000];

/// Criterion groups of `benches/benches/matcher.rs` and their row labels.
const ROWS: [(&str, &str); 10] = [
    ("file_hit", "file open, allowed"),
    ("file_miss", "file open, denied"),
    ("net_ip_hit", "connect to IP, allowed"),
    ("net_ip_miss", "connect to IP, denied"),
    ("net_name_hit", "connect to name, allowed"),
    ("net_name_miss", "connect to name, denied"),
    ("process_hit", "exec, allowed"),
    ("process_miss", "exec, denied"),
    ("api_hit", "API call, allowed"),
    ("api_miss", "API call, denied"),
];

const MEMORY_FILE: &str = "rampart-memory.json";

pub fn main(args: &[String]) -> Result<(), String> {
    let mut table_only = false;
    let mut extra: Vec<String> = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--table" => table_only = true,
            "--" => extra.extend(it.by_ref().cloned()),
            other => return Err(format!("bench: unknown argument `{other}` (pass criterion arguments after `--`)")),
        }
    }
    let criterion = target_dir()?.join("criterion");
    if !table_only {
        std::fs::create_dir_all(&criterion).map_err(|e| format!("cannot create {}: {e}", criterion.display()))?;
        let mut cmd = cargo();
        cmd.args(["bench", "-p", "rampart-benches"]).env("RAMPART_MEMORY_OUT", criterion.join(MEMORY_FILE));
        if !extra.is_empty() {
            cmd.arg("--").args(&extra);
        }
        run(&mut cmd)?;
        println!("\nCriterion results: {}", criterion.display());
        println!("(per benchmark: GROUP/SIZE/new/estimates.json; times are per query)");
    }
    println!();
    print!("{}", table(&criterion)?);
    Ok(())
}

/// Medians in ns by (group, size) from `DIR/*/*/new/{benchmark,estimates}.json`.
fn medians(dir: &Path) -> BTreeMap<(String, u64), f64> {
    let mut out = BTreeMap::new();
    let Ok(groups) = std::fs::read_dir(dir) else { return out };
    for group in groups.flatten() {
        let Ok(benches) = std::fs::read_dir(group.path()) else { continue };
        for bench in benches.flatten() {
            let new = bench.path().join("new");
            let (Some(meta), Some(est)) =
                (read_json(&new.join("benchmark.json")), read_json(&new.join("estimates.json")))
            else {
                continue;
            };
            let group_id = meta["group_id"].as_str().map(str::to_owned);
            let size = meta["value_str"].as_str().and_then(|v| v.parse::<u64>().ok());
            let median = est["median"]["point_estimate"].as_f64();
            if let (Some(g), Some(n), Some(m)) = (group_id, size, median) {
                out.insert((g, n), m);
            }
        }
    }
    out
}

fn read_json(path: &Path) -> Option<serde_json::Value> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

/// `42 ns`, `1.3 µs`, `12.5 ms`.
fn fmt_bytes(b: u64) -> String {
    if b < 10_000 {
        format!("{b} B")
    } else if b < 10_000_000 {
        format!("{:.0} kB", b as f64 / 1e3)
    } else {
        format!("{:.1} MB", b as f64 / 1e6)
    }
}

/// Heap use from the memory bench, by size: (peak, retained).
fn memory(path: &Path) -> BTreeMap<u64, (u64, u64)> {
    let mut out = BTreeMap::new();
    if let Some(v) = read_json(path) {
        for row in v["sizes"].as_array().into_iter().flatten() {
            if let (Some(n), Some(p), Some(r)) =
                (row["rules"].as_u64(), row["peak_bytes"].as_u64(), row["retained_bytes"].as_u64())
            {
                out.insert(n, (p, r));
            }
        }
    }
    out
}

/// The Markdown table for the README.
pub fn table(criterion: &Path) -> Result<String, String> {
    let med = medians(criterion);
    let mem = memory(&criterion.join(MEMORY_FILE));
    if med.is_empty() {
        return Err(format!("no criterion results under {}: run `cargo xtask bench` first", criterion.display()));
    }
    let cell = |group: &str, n: u64| med.get(&(group.to_owned(), n)).map_or("–".to_owned(), |&ns| fmt_ns(ns));
    let mut out = String::new();
    let header: Vec<String> = SIZES.iter().map(|&n| format!("{} rules", size_label(n as usize))).collect();
    out.push_str(&format!("| query (median time) | {} |\n", header.join(" | ")));
    out.push_str(&format!("|---|{}\n", "---:|".repeat(SIZES.len())));
    for (group, label) in ROWS {
        let cells: Vec<String> = SIZES.iter().map(|&n| cell(group, n)).collect();
        out.push_str(&format!("| {label} | {} |\n", cells.join(" | ")));
    }
    for (group, label) in [
        ("parse", "parse policy.json"),
        ("compile", "compile the policy"),
        ("load_snapshot", "load a compiled snapshot (exec'd children)"),
    ] {
        let cells: Vec<String> = SIZES.iter().map(|&n| cell(group, n)).collect();
        out.push_str(&format!("| {label} | {} |\n", cells.join(" | ")));
    }
    let cells: Vec<String> = SIZES
        .iter()
        .map(|n| {
            mem.get(n).map_or("–".to_owned(), |&(peak, ret)| format!("{} / {}", fmt_bytes(peak), fmt_bytes(ret)))
        })
        .collect();
    out.push_str(&format!("| compile heap: peak / kept | {} |\n", cells.join(" | ")));
    out.push_str(&format!(
        "\nRules per category (file, network, process, api, input); {}. Regenerate with `cargo xtask bench`.\n",
        machine()
    ));
    Ok(out)
}

/// `Intel(R) Xeon(R) ... , 2 cores`, from /proc/cpuinfo.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')).map(|(_, m)| m.trim().to_owned()));
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    match model {
        Some(m) => format!("{m}, {cores} cores"),
        None => format!("{cores} cores"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, group: &str, size: u64, median: f64) {
        let new = dir.join(group).join(size.to_string()).join("new");
        std::fs::create_dir_all(&new).unwrap();
        std::fs::write(
            new.join("benchmark.json"),
            format!(r#"{{"group_id":"{group}","function_id":null,"value_str":"{size}","throughput":null}}"#),
        )
        .unwrap();
        std::fs::write(
            new.join("estimates.json"),
            format!(r#"{{"mean":{{"point_estimate":1.0}},"median":{{"point_estimate":{median}}}}}"#),
        )
        .unwrap();
    }

    #[test]
    fn table_from_criterion_json() {
        let dir = std::env::temp_dir().join(format!("xtask-table-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        write(&dir, "file_hit", 10, 41.6);
        write(&dir, "file_hit", 100_000, 2_500.0);
        write(&dir, "compile", 100_000, 150e6);
        std::fs::write(
            dir.join(MEMORY_FILE),
            r#"{"sizes": [{"rules": 100000, "peak_bytes": 19000000, "retained_bytes": 12345678, "compile_ns": 1}]}"#,
        )
        .unwrap();
        let t = table(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(t.contains("| file open, allowed | 42 ns | – | 2.50 µs |"), "{t}");
        assert!(t.contains("| compile the policy | – | – | 150.00 ms |"), "{t}");
        assert!(t.contains("| compile heap: peak / kept | – | – | 19.0 MB / 12.3 MB |"), "{t}");
        assert!(
            t.starts_with("| query (median time) | 10 rules | 1 000 rules | 100 000 rules |\n|---|---:|---:|---:|\n")
        );
    }

    #[test]
    fn no_results_is_an_error() {
        assert!(table(Path::new("/nonexistent/criterion")).is_err());
    }
}

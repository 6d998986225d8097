//! The modules of librampart.so (crates/preload/src) form layers: no
//! module reaches, through `crate::` or `super::` paths, a module that
//! reaches it back. A cycle is how the library's startup, reporting and
//! policy-following code once came to need each other (issue 13); this
//! suite fails on the first one that comes back, naming it.
//!
//! And the layers are the ones crates/preload/src/lib.rs lists, top to
//! bottom: every module is listed, and uses only modules listed below it
//! (or, inside a directory such as `ops/`, its own).
//!
//! One module per file (`ops/file.rs` is `ops::file`, `ops/mod.rs` is
//! `ops`); a path counts for the deepest module it names. `mod`
//! declarations are not uses, and the crate root (`lib.rs`) sits above
//! everything.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/preload/src")
}

/// Every `.rs` file under `dir`, as (module path, file).
fn modules(dir: &Path, prefix: &[String], out: &mut Vec<(Vec<String>, PathBuf)>) {
    let mut entries: Vec<PathBuf> =
        std::fs::read_dir(dir).expect("preload source dir").map(|e| e.expect("dir entry").path()).collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        if path.is_dir() {
            let mut sub = prefix.to_vec();
            sub.push(name);
            modules(&path, &sub, out);
        } else if let Some(stem) = name.strip_suffix(".rs") {
            let mut module = prefix.to_vec();
            if stem != "mod" && stem != "lib" {
                module.push(stem.to_owned());
            }
            out.push((module, path));
        }
    }
}

/// The code of a Rust file with comments and string literals blanked out
/// (a `crate::` in a doc comment or a message is not a use).
fn code_only(text: &str) -> String {
    let b: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(b.len());
    let mut i = 0;
    let at = |i: usize| b.get(i).copied().unwrap_or('\0');
    while i < b.len() {
        let c = at(i);
        if c == '/' && at(i + 1) == '/' {
            while i < b.len() && at(i) != '\n' {
                i += 1;
            }
        } else if c == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < b.len() {
                if at(i) == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if at(i) == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if c == 'r' && (at(i + 1) == '"' || (at(i + 1) == '#' && matches!(at(i + 2), '"' | '#'))) {
            // A raw string: r"..." or r#"..."#.
            let mut j = i + 1;
            let mut hashes = 0;
            while at(j) == '#' {
                hashes += 1;
                j += 1;
            }
            j += 1;
            loop {
                if j >= b.len() {
                    break;
                }
                if at(j) == '"' && (1..=hashes).all(|k| at(j + k) == '#') {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            out.push_str("\"\"");
            i = j;
        } else if c == '"' {
            i += 1;
            while i < b.len() && at(i) != '"' {
                i += if at(i) == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == '\'' && (at(i + 2) == '\'' || at(i + 1) == '\\') {
            // A char literal ('"', '\n', '\''), not a lifetime.
            i += if at(i + 1) == '\\' { 2 } else { 1 };
            while i < b.len() && at(i) != '\'' {
                i += 1;
            }
            i += 1;
            out.push_str("' '");
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// The paths a use tree starting at `s` names (after `crate::`), each
/// as segments: `a::{b, c::{self, d}}` is `a::b`, `a::c`, `a::c::d`.
/// Returns them and how much of `s` the tree took.
fn use_tree(s: &str, base: &[String], out: &mut Vec<Vec<String>>) -> usize {
    let bytes = s.as_bytes();
    let mut path = base.to_vec();
    let mut i = 0;
    loop {
        while bytes.get(i).is_some_and(|c| c.is_ascii_whitespace()) {
            i += 1;
        }
        if bytes.get(i) == Some(&b'{') {
            i += 1;
            loop {
                while bytes.get(i).is_some_and(|c| c.is_ascii_whitespace() || *c == b',') {
                    i += 1;
                }
                if bytes.get(i) == Some(&b'}') || i >= bytes.len() {
                    return i + 1;
                }
                i += use_tree(&s[i..], &path, out);
            }
        }
        let start = i;
        while bytes.get(i).is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_') {
            i += 1;
        }
        let ident = &s[start..i];
        match ident {
            "" => {}
            "self" => {}
            _ => path.push(ident.to_owned()),
        }
        if s[i..].starts_with("::") {
            i += 2;
            continue;
        }
        out.push(path);
        return i;
    }
}

/// The modules `code` (of module `me`) uses, among `known`.
fn uses(me: &[String], code: &str, known: &BTreeSet<Vec<String>>) -> BTreeSet<Vec<String>> {
    let mut paths = Vec::new();
    for (anchor, base) in
        [("crate::", Vec::new()), ("super::", me.get(..me.len().saturating_sub(1)).unwrap_or(&[]).to_vec())]
    {
        let mut from = 0;
        while let Some(pos) = code[from..].find(anchor) {
            let at = from + pos;
            let preceded = code[..at].chars().next_back().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
            from = at + anchor.len();
            if !preceded {
                use_tree(&code[from..], &base, &mut paths);
            }
        }
    }
    let mut found = BTreeSet::new();
    for path in paths {
        // The deepest module the path names (the rest is an item in it).
        let module = (0..=path.len()).rev().map(|n| path[..n].to_vec()).find(|p| known.contains(p));
        if let Some(module) = module.filter(|m| m.as_slice() != me) {
            found.insert(module);
        }
    }
    found
}

fn name(m: &[String]) -> String {
    if m.is_empty() { "crate".to_owned() } else { m.join("::") }
}

/// A cycle in `graph`, as the modules around it, if there is one.
fn find_cycle(graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Option<Vec<Vec<String>>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    fn visit(
        m: &Vec<String>,
        graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        marks: &mut BTreeMap<Vec<String>, Mark>,
        stack: &mut Vec<Vec<String>>,
    ) -> Option<Vec<Vec<String>>> {
        marks.insert(m.clone(), Mark::Open);
        stack.push(m.clone());
        for next in graph.get(m).into_iter().flatten() {
            match marks.get(next).copied().unwrap_or(Mark::New) {
                Mark::Open => {
                    let from = stack.iter().position(|s| s == next).unwrap_or(0);
                    let mut cycle = stack[from..].to_vec();
                    cycle.push(next.clone());
                    return Some(cycle);
                }
                Mark::New => {
                    if let Some(c) = visit(next, graph, marks, stack) {
                        return Some(c);
                    }
                }
                Mark::Done => {}
            }
        }
        stack.pop();
        marks.insert(m.clone(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for m in graph.keys() {
        if marks.get(m).copied().unwrap_or(Mark::New) == Mark::New {
            let mut stack = Vec::new();
            if let Some(c) = visit(m, graph, &mut marks, &mut stack) {
                return Some(c);
            }
        }
    }
    None
}

fn preload_graph() -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let mut files = Vec::new();
    modules(&src_dir(), &[], &mut files);
    let known: BTreeSet<Vec<String>> = files.iter().map(|(m, _)| m.clone()).collect();
    files
        .iter()
        .map(|(m, path)| {
            let text = std::fs::read_to_string(path).expect("read a preload source file");
            (m.clone(), uses(m, &code_only(&text), &known))
        })
        .collect()
}

#[test]
fn preload_modules_form_layers() {
    let graph = preload_graph();
    // The parser must see the uses at all: a few that exist for sure.
    let edge = |a: &str, b: &str| {
        let split = |s: &str| s.split("::").map(str::to_owned).collect::<Vec<_>>();
        graph.get(&split(a)).is_some_and(|uses| uses.contains(&split(b)))
    };
    for (a, b) in [("hooks::file", "ops::file"), ("ops::file", "ops"), ("report", "published"), ("startup", "refresh")]
    {
        assert!(edge(a, b), "the parser lost the use of {b} in {a}: {graph:?}");
    }
    if let Some(cycle) = find_cycle(&graph) {
        let shown: Vec<String> = cycle.iter().map(|m| name(m)).collect();
        panic!(
            "librampart's modules use each other in a circle: {} (see the layers in crates/preload/src/lib.rs)",
            shown.join(" -> ")
        );
    }
}

#[test]
fn the_parser_reads_use_trees_and_skips_comments() {
    let known: BTreeSet<Vec<String>> = [
        vec![],
        vec!["a".to_owned()],
        vec!["b".to_owned()],
        vec!["c".to_owned(), "d".to_owned()],
        vec!["c".to_owned()],
    ]
    .into_iter()
    .collect();
    let me = vec!["c".to_owned(), "d".to_owned()];
    let code = code_only(
        "use crate::{a::{self, X}, b};\n// crate::zzz\nlet s = \"crate::q\"; let c = '\"';\nsuper::f(); $crate::a::m!();",
    );
    let got: Vec<String> = uses(&me, &code, &known).iter().map(|m| name(m)).collect();
    assert_eq!(got, ["a", "b", "c"]);
    let mut graph = BTreeMap::new();
    graph.insert(vec!["x".to_owned()], BTreeSet::from([vec!["y".to_owned()]]));
    graph.insert(vec!["y".to_owned()], BTreeSet::from([vec!["x".to_owned()]]));
    assert!(find_cycle(&graph).is_some());
    graph.insert(vec!["y".to_owned()], BTreeSet::new());
    assert!(find_cycle(&graph).is_none());
}

/// The layers lib.rs's module doc lists (`//! - `NAME`: ...` or
/// `NAME/` for a directory), top first.
fn documented_layers() -> Vec<String> {
    let lib = std::fs::read_to_string(src_dir().join("lib.rs")).expect("read lib.rs");
    lib.lines()
        .filter_map(|l| l.strip_prefix("//! - `"))
        .filter_map(|l| l.split('`').next())
        .filter(|name| !name.contains('.'))
        .map(|name| name.trim_end_matches('/').to_owned())
        .collect()
}

#[test]
fn preload_modules_use_only_the_layers_below_them() {
    let graph = preload_graph();
    let layers = documented_layers();
    assert!(layers.len() > 5, "lib.rs lists no layers: {layers:?}");
    let rank = |m: &[String]| m.first().and_then(|top| layers.iter().position(|l| l == top));
    let mut wrong = Vec::new();
    for (module, uses) in graph.iter().filter(|(m, _)| !m.is_empty()) {
        let Some(mine) = rank(module) else {
            wrong.push(format!("{} is not in lib.rs's list of layers", name(module)));
            continue;
        };
        for used in uses.iter().filter(|u| !u.is_empty()) {
            match rank(used) {
                Some(theirs) if theirs > mine || (theirs == mine && module.len() > 1) => {}
                _ => wrong.push(format!("{} uses {}, which lib.rs does not list below it", name(module), name(used))),
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

//! The layout's rules, checked on the source itself so that they cannot
//! erode unnoticed:
//! - no import circle between the top-level modules of either crate (the
//!   modules directly under `src/`), counting every `crate::…` path,
//!   grouped `use` lists and doc links included; a module and its own
//!   children may use each other;
//! - no source file past what one reader holds in mind;
//! - every source file opens with a module comment that says why it exists.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::{Path, PathBuf},
};

/// The longest a source file may grow (lines).
const MAX_LINES: usize = 500;

const CRATES: [&str; 2] = ["src", "crates/kakao-protocol/src"];

fn root(dir: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(dir)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules: `src/x.rs` and `src/x/`, but the crate roots.
fn top_level_modules(src: &Path) -> BTreeSet<String> {
    fs::read_dir(src)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter_map(|path| {
            let name = path.file_name()?.to_str()?.to_owned();
            if path.is_dir() {
                Some(name)
            } else {
                let stem = name.strip_suffix(".rs")?;
                (stem != "lib" && stem != "main").then(|| stem.to_owned())
            }
        })
        .collect()
}

fn identifier_at(text: &str) -> Option<&str> {
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    (end > 0).then(|| &text[..end])
}

/// The first segment of every path after `crate::` (and `super::`, in a
/// top-level file, whose parent is the crate root), including each item of
/// a grouped list: `crate::{a::X, b}` names `a` and `b`.
fn modules_named(text: &str, top_level_file: bool) -> BTreeSet<String> {
    let mut named = BTreeSet::new();
    let prefixes: &[&str] = if top_level_file {
        &["crate::", "super::"]
    } else {
        &["crate::"]
    };
    for prefix in prefixes {
        for (at, _) in text.match_indices(prefix) {
            let before = text[..at].chars().next_back();
            if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
                continue; // `$crate::` or `kakao_webhooks_crate::`, say
            }
            let rest = &text[at + prefix.len()..];
            if let Some(group) = rest.strip_prefix('{') {
                let mut depth = 0;
                let mut item_start = true;
                for (i, c) in group.char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => break,
                        '}' => depth -= 1,
                        ',' if depth == 0 => item_start = true,
                        c if c.is_whitespace() => {}
                        _ if item_start && depth == 0 => {
                            item_start = false;
                            if let Some(name) = identifier_at(&group[i..]) {
                                named.insert(name.to_owned());
                            }
                        }
                        _ => {}
                    }
                }
            } else if let Some(name) = identifier_at(rest) {
                named.insert(name.to_owned());
            }
        }
    }
    named
}

/// Which top-level module uses which, with the files that do.
type Edges = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

fn edges(src: &Path) -> (BTreeSet<String>, Edges) {
    let modules = top_level_modules(src);
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut edges = Edges::new();
    for file in files {
        let relative = file.strip_prefix(src).unwrap();
        let first = relative.components().next().unwrap();
        let first = first.as_os_str().to_str().unwrap();
        let module = first.strip_suffix(".rs").unwrap_or(first).to_owned();
        if !modules.contains(&module) {
            continue; // lib.rs, main.rs
        }
        let top_level_file = relative.components().count() == 1;
        let text = fs::read_to_string(&file).unwrap();
        for used in modules_named(&text, top_level_file) {
            if used != module && modules.contains(&used) {
                edges
                    .entry(module.clone())
                    .or_default()
                    .entry(used)
                    .or_default()
                    .insert(relative.display().to_string());
            }
        }
    }
    (modules, edges)
}

/// The modules reachable from `from`.
fn reachable(edges: &Edges, from: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut stack = vec![from.to_owned()];
    while let Some(module) = stack.pop() {
        for next in edges.get(&module).into_iter().flat_map(BTreeMap::keys) {
            if seen.insert(next.clone()) {
                stack.push(next.clone());
            }
        }
    }
    seen
}

/// Each circle as the ties inside it: `a -> b (files)`.
fn circles(src: &Path) -> Vec<String> {
    let (modules, edges) = edges(src);
    let mut found = Vec::new();
    let mut placed = BTreeSet::new();
    for module in &modules {
        if placed.contains(module) || !reachable(&edges, module).contains(module) {
            continue;
        }
        let members: BTreeSet<String> = modules
            .iter()
            .filter(|other| {
                *other == module
                    || (reachable(&edges, module).contains(*other)
                        && reachable(&edges, other).contains(module))
            })
            .cloned()
            .collect();
        let mut ties = Vec::new();
        for from in &members {
            for (to, files) in edges.get(from).into_iter().flatten() {
                if members.contains(to) {
                    ties.push(format!("  {from} -> {to} ({files:?})"));
                }
            }
        }
        found.push(format!("{members:?} use each other:\n{}", ties.join("\n")));
        placed.extend(members);
    }
    found
}

#[test]
fn no_top_level_modules_import_each_other_in_a_circle() {
    for dir in CRATES {
        let found = circles(&root(dir));
        assert!(
            found.is_empty(),
            "{dir}: a lower module reaches up (move the item down, or give the \
             family its own state through FromRef):\n{}",
            found.join("\n")
        );
    }
}

#[test]
fn a_circle_is_found_through_a_grouped_use_list() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    fs::write(src.join("lib.rs"), "pub mod low;\npub mod high;\n").unwrap();
    fs::write(src.join("high.rs"), "use crate::low::Thing;\n").unwrap();
    fs::create_dir(src.join("low")).unwrap();
    fs::write(
        src.join("low").join("mod.rs"),
        "use crate::{\n    other::X,\n    high::{self, Y},\n};\n",
    )
    .unwrap();
    let found = circles(src);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("low -> high"), "{found:?}");
    fs::write(src.join("low").join("mod.rs"), "// nothing of high\n").unwrap();
    assert!(circles(src).is_empty());
}

#[test]
fn no_source_file_is_past_what_one_reader_holds_in_mind() {
    let mut files = Vec::new();
    for dir in CRATES {
        rust_files(&root(dir), &mut files);
    }
    let long: Vec<String> = files
        .iter()
        .filter_map(|file| {
            let lines = fs::read_to_string(file).unwrap().lines().count();
            (lines > MAX_LINES).then(|| format!("{} ({lines} lines)", file.display()))
        })
        .collect();
    assert!(long.is_empty(), "split these by what they do: {long:?}");
}

#[test]
fn every_source_file_opens_with_a_module_comment() {
    let mut files = Vec::new();
    for dir in CRATES {
        rust_files(&root(dir), &mut files);
    }
    let silent: Vec<String> = files
        .iter()
        .filter(|file| !fs::read_to_string(file).unwrap().starts_with("//!"))
        .map(|file| file.display().to_string())
        .collect();
    assert!(
        silent.is_empty(),
        "say what each of these is for, and why, in a `//!` comment: {silent:?}"
    );
}

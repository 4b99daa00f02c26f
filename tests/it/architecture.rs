//! The module layout has no cycles: no top-level module of `src/` uses one that uses it back,
//! directly or through others (issue 8; docs/architecture.md draws the layers).
//!
//! The check reads every `src/**/*.rs`, drops comments and string literals, and collects each
//! `crate::<top>` path per top-level module, including the ones inside `use crate::{a, b::c}`
//! groups and `super::` paths that climb out of a top-level module. The unit tests at the end
//! run the same check on small made-up trees, so a check that cannot see a cycle fails too.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// One use of another top-level module: where it was seen, for the failure message.
type Edges = BTreeMap<(String, String), String>;

/// The top-level module of a file under `src/` (`http/routes/chat.rs` → `http`), and the
/// module path of the file (`["http", "routes", "chat"]`). `lib.rs` and `main.rs` are the
/// crate root: they name every module and belong to none.
fn module_of(relative: &str) -> Option<(String, Vec<String>)> {
    let without_ext = relative.strip_suffix(".rs")?;
    let mut parts: Vec<String> = without_ext.split('/').map(str::to_owned).collect();
    if parts.len() == 1 && (parts[0] == "lib" || parts[0] == "main") {
        return None;
    }
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    Some((parts[0].clone(), parts))
}

/// `source` with comments and string and char literals replaced by spaces (newlines kept, so
/// line numbers still match).
fn code_only(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
        } else if c == 'r'
            && (next == Some('"') || next == Some('#'))
            && !chars[..i]
                .last()
                .is_some_and(|p| p.is_alphanumeric() || *p == '_')
        {
            // A raw string: r"…", r#"…"#, …
            let mut j = i + 1;
            let mut hashes = 0;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            'raw: while j < chars.len() {
                if chars[j] == '"' && (0..hashes).all(|h| chars.get(j + 1 + h) == Some(&'#')) {
                    j += 1 + hashes;
                    break 'raw;
                }
                j += 1;
            }
            out.extend(chars[i..j.min(chars.len())].iter().map(|&c| blank(c)));
            i = j;
        } else if c == '"' {
            out.push(' ');
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < chars.len() {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
            out.push(' ');
            i += 1;
        } else if c == '\'' {
            // A char literal ('a', '\n', '\u{1F600}') or a lifetime ('a), which stays.
            if next == Some('\\') {
                let mut j = i + 2;
                while j < chars.len() && chars[j] != '\'' {
                    j += 1;
                }
                out.extend(std::iter::repeat_n(' ', j + 1 - i));
                i = j + 1;
            } else if chars.get(i + 2) == Some(&'\'') {
                out.push_str("   ");
                i += 3;
            } else {
                out.push(c);
                i += 1;
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The identifier at the start of `text` (after spaces).
fn leading_ident(text: &str) -> &str {
    let text = text.trim_start();
    let end = text.find(|c: char| !is_ident(c)).unwrap_or(text.len());
    &text[..end]
}

/// The first identifier of each item of the group that starts at `text` (just after the `{`):
/// `a, b::c, d::{e, f}}` → `a`, `b`, `d`.
fn group_heads(text: &str) -> Vec<&str> {
    let mut heads = Vec::new();
    let mut depth = 0;
    let mut item_start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                heads.push(leading_ident(&text[item_start..i]));
                break;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                heads.push(leading_ident(&text[item_start..i]));
                item_start = i + 1;
            }
            _ => {}
        }
    }
    heads.retain(|h| !h.is_empty());
    heads
}

/// The top-level modules one file's code names, each with the line it is first named on.
fn uses_of(code: &str, module_path: &[String]) -> Vec<(String, usize)> {
    let mut found = Vec::new();
    let line_of = |at: usize| code[..at].matches('\n').count() + 1;
    let named_after = |rest: &str| -> Vec<String> {
        match rest.trim_start().strip_prefix('{') {
            Some(group) => group_heads(group).into_iter().map(str::to_owned).collect(),
            None => vec![leading_ident(rest).to_owned()],
        }
    };
    let crate_path = regex::Regex::new(r"\bcrate\s*::").expect("a valid pattern");
    for m in crate_path.find_iter(code) {
        for head in named_after(&code[m.end()..]) {
            found.push((head, line_of(m.start())));
        }
    }
    // `super::super::x` from `http/routes/chat.rs` names `http::x`; one more `super` names the
    // crate root's `x`, another top-level module.
    let super_path = regex::Regex::new(r"(?:\bsuper\s*::\s*)+").expect("a valid pattern");
    for m in super_path.find_iter(code) {
        let climbs = m.as_str().matches("super").count();
        // A `mod.rs` or `x.rs` is module `module_path`; each `super` climbs one level.
        if climbs >= module_path.len() {
            for head in named_after(&code[m.end()..]) {
                found.push((head, line_of(m.start())));
            }
        }
    }
    found
}

/// Every (user, used) pair of distinct top-level modules among `files` (paths relative to
/// `src/`, and their text), with the first place each was seen.
fn edges_of<'a>(files: impl IntoIterator<Item = (String, &'a str)>) -> Edges {
    let files: Vec<(String, &str)> = files.into_iter().collect();
    let tops: BTreeSet<String> = files
        .iter()
        .filter_map(|(path, _)| module_of(path).map(|(top, _)| top))
        .collect();
    let mut edges = Edges::new();
    for (path, text) in &files {
        let Some((top, module_path)) = module_of(path) else {
            continue;
        };
        for (used, line) in uses_of(&code_only(text), &module_path) {
            if used != top && tops.contains(&used) {
                edges
                    .entry((top.clone(), used))
                    .or_insert_with(|| format!("src/{path}:{line}"));
            }
        }
    }
    edges
}

/// A cycle of the graph, as the modules along it (the first repeated at the end), if any.
fn find_cycle(edges: &Edges) -> Option<Vec<String>> {
    let mut out: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (from, to) in edges.keys() {
        out.entry(from).or_default().push(to);
    }
    // Depth-first, with the path so far: a neighbour on the path closes a cycle.
    fn visit<'a>(
        node: &'a str,
        out: &BTreeMap<&'a str, Vec<&'a str>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| *n == node) {
            let mut cycle: Vec<String> = path[start..].iter().map(|n| (*n).to_owned()).collect();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node);
        for next in out.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, out, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node);
        None
    }
    let mut done = BTreeSet::new();
    for node in out.keys() {
        if let Some(cycle) = visit(node, &out, &mut Vec::new(), &mut done) {
            return Some(cycle);
        }
    }
    None
}

/// The failure message for `cycle`: each step with the place it is taken.
fn describe(cycle: &[String], edges: &Edges) -> String {
    let steps: Vec<String> = cycle
        .windows(2)
        .map(|w| {
            let at = &edges[&(w[0].clone(), w[1].clone())];
            format!("  {} -> {}   ({at})", w[0], w[1])
        })
        .collect();
    format!("module cycle {}:\n{}", cycle.join(" -> "), steps.join("\n"))
}

#[test]
fn no_top_level_module_uses_one_that_uses_it_back() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(&src) {
        let entry = entry.expect("src/ is readable");
        if entry.path().extension().is_some_and(|e| e == "rs") {
            let relative = entry
                .path()
                .strip_prefix(&src)
                .expect("under src/")
                .to_string_lossy()
                .replace('\\', "/");
            let text = std::fs::read_to_string(entry.path()).expect("a source file is readable");
            files.push((relative, text));
        }
    }
    assert!(files.len() > 50, "read only {} files of src/", files.len());
    let edges = edges_of(files.iter().map(|(p, t)| (p.clone(), t.as_str())));
    // The check sees the layers it is meant to guard (a parser that saw nothing would pass).
    for (from, to) in [
        ("http", "services"),
        ("services", "store"),
        ("tenancy", "rag"),
    ] {
        assert!(
            edges.contains_key(&(from.to_owned(), to.to_owned())),
            "expected {from} -> {to} among {:?}",
            edges.keys().collect::<Vec<_>>()
        );
    }
    if let Some(cycle) = find_cycle(&edges) {
        panic!("{}", describe(&cycle, &edges));
    }
}

fn tree(files: &[(&str, &str)]) -> Edges {
    edges_of(files.iter().map(|(p, t)| ((*p).to_owned(), *t)))
}

#[test]
fn the_check_finds_a_two_module_cycle_through_a_use_group() {
    let edges = tree(&[
        ("a/mod.rs", "use crate::{b::Thing, c};\n"),
        ("b.rs", "fn f() { crate::a::g() }\n"),
        ("c.rs", "pub struct C;\n"),
    ]);
    let cycle = find_cycle(&edges).expect("a -> b -> a is a cycle");
    assert_eq!(cycle.first(), cycle.last());
    assert!(cycle.contains(&"a".to_owned()) && cycle.contains(&"b".to_owned()));
    let message = describe(&cycle, &edges);
    assert!(
        message.contains("src/a/mod.rs:1") && message.contains("src/b.rs:1"),
        "{message}"
    );
}

#[test]
fn the_check_finds_a_longer_cycle_and_nested_groups_and_super_paths() {
    let edges = tree(&[
        (
            "a.rs",
            "use crate::{\n    x::{self, y},\n    b::{c::D, e},\n};\n",
        ),
        ("b/mod.rs", "pub mod c;\n"),
        ("b/c.rs", "use super::super::c::Z;\n"),
        ("c.rs", "pub fn z() -> crate :: a :: T { todo!() }\n"),
        ("x.rs", ""),
    ]);
    assert_eq!(
        find_cycle(&edges),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
    assert!(edges.contains_key(&("a".into(), "x".into())));
}

#[test]
fn the_check_ignores_comments_strings_and_acyclic_layers() {
    let edges = tree(&[
        (
            "a.rs",
            "//! Not here: `crate::b` owns that.\n/* crate::b */ /// crate::b\n\
             const S: &str = \"crate::b\"; const R: &str = r#\"crate::b \"x\"\"#;\n\
             fn f<'a>(x: &'a str) -> char { '\"' }\nuse crate::c::C;\n",
        ),
        ("b.rs", "use crate::a::f;\nuse crate::c;\n"),
        ("c.rs", "use super::super::nothing;\n"),
        (
            "lib.rs",
            "pub mod a; pub mod b; pub mod c; use crate::a as _;\n",
        ),
    ]);
    assert_eq!(find_cycle(&edges), None, "{edges:?}");
    assert_eq!(
        edges.keys().cloned().collect::<Vec<_>>(),
        vec![
            ("a".to_owned(), "c".to_owned()),
            ("b".to_owned(), "a".to_owned()),
            ("b".to_owned(), "c".to_owned()),
        ]
    );
}

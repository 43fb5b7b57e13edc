//! The test server's modules form a DAG: every `crate::...` reference in `src/` (a `use`, or a
//! path in code) is an edge from the module it is written in to the module it names, and no
//! chain of edges leads back to where it started. `docs/testserver.md` lists the modules
//! bottom-up; every module must depend only on modules listed before it.
//!
//! Run with `--nocapture` to see the graph.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Graph = BTreeMap<String, BTreeSet<String>>;

/// Source text with comments, string and char literals blanked out (so a `crate::x` in a doc
/// comment or a string is not an edge). Lifetimes (`'a`) are kept as they are.
fn code_only(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    let blank = |out: &mut String, s: &[u8]| {
        out.extend(s.iter().map(|c| if *c == b'\n' { '\n' } else { ' ' }));
    };
    while i < b.len() {
        let rest = &b[i..];
        if rest.starts_with(b"//") {
            let end = rest.iter().position(|c| *c == b'\n').unwrap_or(rest.len());
            blank(&mut out, &rest[..end]);
            i += end;
        } else if rest.starts_with(b"/*") {
            // Block comments nest in Rust.
            let (mut depth, mut j) = (0usize, 0usize);
            while j < rest.len() {
                if rest[j..].starts_with(b"/*") {
                    depth += 1;
                    j += 2;
                } else if rest[j..].starts_with(b"*/") {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    j += 1;
                }
            }
            blank(&mut out, &rest[..j]);
            i += j;
        } else if (rest.starts_with(b"r\"") || rest.starts_with(b"r#") || rest.starts_with(b"br"))
            && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_'))
            && raw_string_len(rest).is_some()
        {
            let n = raw_string_len(rest).unwrap_or(1);
            blank(&mut out, &rest[..n]);
            i += n;
        } else if rest[0] == b'"' {
            let mut j = 1;
            while j < rest.len() && rest[j] != b'"' {
                j += if rest[j] == b'\\' { 2 } else { 1 };
            }
            let n = (j + 1).min(rest.len());
            blank(&mut out, &rest[..n]);
            i += n;
        } else if rest[0] == b'\'' {
            // A char literal ('x', '\n', '\u{..}', '"'), or a lifetime ('a) kept as it is.
            let n = if rest.get(1) == Some(&b'\\') {
                rest.get(3..)
                    .and_then(|r| r.iter().position(|c| *c == b'\''))
                    .map(|p| p + 4)
            } else {
                let ch_len = src[i + 1..].chars().next().map_or(1, char::len_utf8);
                (rest.get(1 + ch_len) == Some(&b'\'')).then_some(ch_len + 2)
            };
            match n {
                Some(n) => {
                    blank(&mut out, &rest[..n]);
                    i += n;
                }
                None => {
                    out.push('\'');
                    i += 1;
                }
            }
        } else {
            let ch = src[i..].chars().next().unwrap_or(' ');
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

/// Length of a raw string literal (`r"..."`, `r#"..."#`, `br"..."`) at the start of `s`.
fn raw_string_len(s: &[u8]) -> Option<usize> {
    let mut i = if s.starts_with(b"br") { 2 } else { 1 };
    let hashes = s[i..].iter().take_while(|c| **c == b'#').count();
    i += hashes;
    if s.get(i) != Some(&b'"') {
        return None;
    }
    let close: Vec<u8> = std::iter::once(b'"')
        .chain(std::iter::repeat_n(b'#', hashes))
        .collect();
    let body = &s[i + 1..];
    let end = body
        .windows(close.len())
        .position(|w| w == close.as_slice())?;
    Some(i + 1 + end + close.len())
}

fn ident_at(s: &str) -> Option<&str> {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    (end > 0).then(|| &s[..end])
}

/// The first segment of each path in a `{a, b::c, d::{e, f}}` group that starts `s`.
fn group_heads(s: &str) -> Vec<&str> {
    let mut heads = Vec::new();
    let mut depth = 0;
    let mut at_item_start = true;
    for (i, c) in s.char_indices() {
        match c {
            '{' => {
                depth += 1;
                at_item_start = depth == 1;
            }
            '}' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            ',' if depth == 1 => at_item_start = true,
            c if c.is_whitespace() => {}
            _ if at_item_start && depth == 1 => {
                if let Some(id) = ident_at(&s[i..]) {
                    heads.push(id);
                }
                at_item_start = false;
            }
            _ => {}
        }
    }
    heads
}

/// The names that follow `crate::` in `code` (first path segments; every head of a group).
fn crate_refs(code: &str) -> Vec<String> {
    let mut refs = Vec::new();
    let mut rest = code;
    while let Some(p) = rest.find("crate::") {
        let before = rest[..p].chars().next_back();
        rest = &rest[p + "crate::".len()..];
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue; // e.g. `my_crate::`
        }
        let r = rest.trim_start();
        if r.starts_with('{') {
            refs.extend(group_heads(r).into_iter().map(str::to_owned));
        } else if let Some(id) = ident_at(r) {
            refs.push(id.to_owned());
        }
    }
    refs
}

/// What `lib.rs` re-exports at the crate root, by name: the module it comes from.
fn root_reexports(lib: &str) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    let code = code_only(lib);
    for stmt in code.split(';') {
        let stmt = stmt.trim();
        let Some(path) = stmt.strip_prefix("pub use ") else {
            continue;
        };
        let Some(module) = ident_at(path) else {
            continue;
        };
        let tail = &path[module.len()..];
        let tail = tail.strip_prefix("::").unwrap_or(tail).trim_start();
        let names: Vec<&str> = if tail.starts_with('{') {
            group_heads(tail)
        } else {
            tail.rsplit("::")
                .next()
                .and_then(ident_at)
                .into_iter()
                .collect()
        };
        for n in names {
            map.insert(n.to_owned(), module.to_owned());
        }
    }
    map
}

/// The module graph of a crate given as (module, sources) pairs plus its `lib.rs`. Names after
/// `crate::` that are neither a module nor a root re-export are returned as errors.
fn graph_of(modules: &BTreeMap<String, Vec<String>>, lib: &str) -> (Graph, Vec<String>) {
    let reexports = root_reexports(lib);
    let mut graph = Graph::new();
    let mut unknown = Vec::new();
    for (m, sources) in modules {
        let deps = graph.entry(m.clone()).or_default();
        for src in sources {
            for r in crate_refs(&code_only(src)) {
                let target = if modules.contains_key(&r) {
                    Some(r.clone())
                } else {
                    reexports.get(&r).cloned()
                };
                match target {
                    Some(t) if t != *m => {
                        deps.insert(t);
                    }
                    Some(_) => {}
                    None => unknown.push(format!("{m}: crate::{r}")),
                }
            }
        }
    }
    (graph, unknown)
}

/// A cycle in `graph`, if there is one (as a path that ends where it starts).
fn find_cycle(graph: &Graph) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    fn visit(
        n: &str,
        graph: &Graph,
        marks: &mut BTreeMap<String, Mark>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match marks.get(n).copied().unwrap_or(Mark::New) {
            Mark::Done => return None,
            Mark::Open => {
                let from = stack.iter().position(|s| s == n).unwrap_or(0);
                let mut cycle = stack[from..].to_vec();
                cycle.push(n.to_owned());
                return Some(cycle);
            }
            Mark::New => {}
        }
        marks.insert(n.to_owned(), Mark::Open);
        stack.push(n.to_owned());
        for d in graph.get(n).into_iter().flatten() {
            if let Some(c) = visit(d, graph, marks, stack) {
                return Some(c);
            }
        }
        stack.pop();
        marks.insert(n.to_owned(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    let mut stack = Vec::new();
    graph
        .keys()
        .find_map(|n| visit(n, graph, &mut marks, &mut stack))
}

/// Each module's layer: 0 for modules that use no other, else one more than its highest
/// dependency. Only meaningful for a DAG.
fn layers(graph: &Graph) -> BTreeMap<String, usize> {
    fn layer(n: &str, graph: &Graph, memo: &mut BTreeMap<String, usize>) -> usize {
        if let Some(l) = memo.get(n) {
            return *l;
        }
        let l = graph
            .get(n)
            .into_iter()
            .flatten()
            .map(|d| layer(d, graph, memo) + 1)
            .max()
            .unwrap_or(0);
        memo.insert(n.to_owned(), l);
        l
    }
    let mut memo = BTreeMap::new();
    for n in graph.keys() {
        layer(n, graph, &mut memo);
    }
    memo
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("read src dir")
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rs_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The crate's top-level modules with their sources (`x.rs` and anything under `x/`), and
/// `lib.rs`.
fn crate_sources() -> (BTreeMap<String, Vec<String>>, String) {
    let src = src_dir();
    let mut files = Vec::new();
    rs_files(&src, &mut files);
    let mut modules: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut lib = String::new();
    for f in files {
        let rel = f.strip_prefix(&src).expect("under src");
        let text = std::fs::read_to_string(&f).expect("read source");
        let first = rel.components().next().expect("a component");
        let name = first.as_os_str().to_string_lossy();
        let name = name.strip_suffix(".rs").unwrap_or(&name).to_owned();
        if name == "lib" {
            lib = text;
        } else {
            modules.entry(name).or_default().push(text);
        }
    }
    (modules, lib)
}

fn print_graph(graph: &Graph) {
    let layers = layers(graph);
    let mut by_layer: BTreeMap<usize, Vec<&str>> = BTreeMap::new();
    for (m, l) in &layers {
        by_layer.entry(*l).or_default().push(m);
    }
    for (l, ms) in by_layer {
        for m in ms {
            let deps: Vec<&str> = graph[m].iter().map(String::as_str).collect();
            println!("layer {l}: {m} -> {}", deps.join(", "));
        }
    }
}

#[test]
fn the_test_servers_modules_form_a_dag() {
    let (modules, lib) = crate_sources();
    let (graph, unknown) = graph_of(&modules, &lib);
    assert!(
        unknown.is_empty(),
        "crate:: paths that name no module and no root re-export: {unknown:?}"
    );
    // The scanner sees the edges it must see (so a broken scanner cannot pass by finding none).
    assert!(graph["server"].contains("state"), "{graph:?}");
    assert!(graph["driver"].contains("server"), "{graph:?}");
    if let Some(cycle) = find_cycle(&graph) {
        for (m, deps) in &graph {
            println!("{m} -> {deps:?}");
        }
        panic!("module cycle: {}", cycle.join(" -> "));
    }
    print_graph(&graph);
}

/// `docs/testserver.md` lists every module once, bottom-up: no module uses one listed after it.
#[test]
fn the_documented_layout_is_the_real_one() {
    let (modules, lib) = crate_sources();
    let (graph, _) = graph_of(&modules, &lib);
    let doc = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/testserver.md"),
    )
    .expect("read docs/testserver.md");
    let section = doc
        .split("\n## Module layout")
        .nth(1)
        .expect("docs/testserver.md has a `## Module layout` section");
    let section = section.split("\n## ").next().unwrap_or(section);
    // Each module is named as `name.rs` in the first column of the layout table.
    let mut order = Vec::new();
    for line in section.lines().filter(|l| l.starts_with('|')) {
        let first = line.split('|').nth(1).unwrap_or("");
        for part in first.split('`').skip(1).step_by(2) {
            if let Some(m) = part.strip_suffix(".rs") {
                order.push(m.to_owned());
            }
        }
    }
    let listed: BTreeSet<String> = order.iter().cloned().collect();
    let real: BTreeSet<String> = modules.keys().cloned().collect();
    assert_eq!(
        listed.len(),
        order.len(),
        "a module is listed twice: {order:?}"
    );
    assert_eq!(
        listed, real,
        "the layout table must name every module of src/"
    );
    let pos: BTreeMap<&str, usize> = order
        .iter()
        .enumerate()
        .map(|(i, m)| (m.as_str(), i))
        .collect();
    for (m, deps) in &graph {
        for d in deps {
            assert!(
                pos[d.as_str()] < pos[m.as_str()],
                "{m} uses {d}, which the layout lists after it"
            );
        }
    }
}

// ---- the checker itself ------------------------------------------------------------------------

fn fake(mods: &[(&str, &str)]) -> BTreeMap<String, Vec<String>> {
    mods.iter()
        .map(|(m, s)| ((*m).to_owned(), vec![(*s).to_owned()]))
        .collect()
}

#[test]
fn the_checker_finds_uses_paths_and_groups_but_not_comments_or_strings() {
    let mods = fake(&[
        (
            "a",
            "use crate::b::X;\nuse crate::{c, d::{Y, Z}};\n// crate::e\n/* crate::e /* nested */ crate::e */\nfn f() { let _ = \"crate::e\"; let _ = r#\"crate::e\"#; let _ = '\"'; crate::Thing::new(); }",
        ),
        (
            "b",
            "fn g<'a>(x: &'a str) -> char { let _ = '\\''; let _ = \"crate::e\"; crate::c::h(); 'x' }",
        ),
        ("c", ""),
        ("d", ""),
        ("e", ""),
        ("f", ""),
    ]);
    let lib = "mod a;\npub use f::Thing;\npub use f::{Other, More};";
    let (graph, unknown) = graph_of(&mods, lib);
    assert!(unknown.is_empty(), "{unknown:?}");
    let a: Vec<&str> = graph["a"].iter().map(String::as_str).collect();
    assert_eq!(a, ["b", "c", "d", "f"]);
    let b: Vec<&str> = graph["b"].iter().map(String::as_str).collect();
    assert_eq!(b, ["c"]);
    assert!(find_cycle(&graph).is_none());
    assert_eq!(layers(&graph)["a"], 2);
}

#[test]
fn the_checker_finds_a_cycle_through_a_root_reexport() {
    let mods = fake(&[
        ("server", "use crate::routing;"),
        ("routing", "fn f(s: &mut crate::Server) {}"),
        ("x", "use crate::nowhere::Y;"),
    ]);
    let (graph, unknown) = graph_of(&mods, "pub use server::{Server, Output};");
    assert_eq!(unknown, ["x: crate::nowhere"]);
    let cycle = find_cycle(&graph).expect("a cycle");
    assert_eq!(cycle.first(), cycle.last());
    assert!(cycle.contains(&"server".to_owned()) && cycle.contains(&"routing".to_owned()));
}

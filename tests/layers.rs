//! The source tree's layering, checked: every path to this crate's modules in the library's
//! code (`crate::`, `$crate::`, `super::` at any depth, `self::`, grouped and nested `use`
//! trees, relative `use`/`pub use` of child modules, paths in macro bodies) is resolved to the
//! file it names; a file may import only from its own layer or a lower one, and the import
//! graph between files has no cycle. Test modules (`#[cfg(test)] mod ...`) and comments are
//! not imports. Folders are layers, as in docs/ARCHITECTURE.md.
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Layer of a library file (path relative to `src/`), bottom = 0.
fn layer(file: &str) -> usize {
    const LAYERS: &[(&str, usize)] = &[
        ("error.rs", 0),
        ("config.rs", 0),
        ("settings.rs", 0),
        ("dtype.rs", 0),
        ("mpi/", 1),
        // The caches sit below the data model, which keeps its DataSets (and Sparsities,
        // plans) in object caches; they store bytes and loaded values, knowing no kernel.
        ("cache/", 2),
        ("data/", 3),
        ("jit/", 4),
        // The build protocol: above the caches and code generation, which it joins.
        ("build/", 5),
        ("linalg/", 6),
        ("exec/", 7),
        ("mesh/", 8),
        ("runtime.rs", 9),
        ("report.rs", 9),
        ("lib.rs", 10),
    ];
    LAYERS
        .iter()
        .find(|(p, _)| file == *p || (p.ends_with('/') && file.starts_with(p)))
        .map(|(_, l)| *l)
        .unwrap_or_else(|| {
            panic!("src/{file} is in no layer: add it to tests/layers.rs and docs/ARCHITECTURE.md")
        })
}

fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            if p.file_name().unwrap() != "bin" {
                rs_files(&p, out);
            }
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The file a module path (segments after `crate`) names: the longest prefix that is a file,
/// and the length of that prefix.
fn resolve(src: &Path, segs: &[String]) -> Option<(String, usize)> {
    for n in (1..=segs.len()).rev() {
        let base = segs[..n].join("/");
        for cand in [format!("{base}.rs"), format!("{base}/mod.rs")] {
            if src.join(&cand).exists() {
                return Some((cand, n));
            }
        }
    }
    None
}

/// The names a `mod.rs` re-exports from its own files (`pub use child::Name`), and from which:
/// a facade is not a file of its own, so `use crate::a::Name` imports the child.
fn reexports(src: &Path, file: &str) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(src.join(file)).unwrap_or_default();
    let code = code(&text);
    let here = module_of(file);
    let mut out = BTreeMap::new();
    for (i, _) in code.match_indices("pub use ") {
        for p in use_tree(&code[i + 8..]) {
            let name = p.last().cloned().unwrap_or_default();
            if let Some(abs) = absolute(&here, &p, true) {
                if let Some((target, n)) = resolve(src, &abs) {
                    if target != file && n < abs.len() {
                        out.insert(name, target);
                    }
                }
            }
        }
    }
    out
}

/// Code lines of a file: comments and test modules (`#[cfg(test)] mod ... { ... }`, up to
/// their closing brace) stripped. Other `#[cfg(test)]` items stay: they are code of the file.
fn code(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let t = line.trim_start();
        if t.starts_with("#[cfg(test)]") {
            let next = lines.peek().map(|l| l.trim_start()).unwrap_or("");
            if next.starts_with("mod ") || next.starts_with("pub mod ") {
                // Skip the module: count braces to its end.
                let mut depth = 0i64;
                let mut opened = false;
                for l in lines.by_ref() {
                    let l = l.split("//").next().unwrap();
                    depth += l.matches('{').count() as i64 - l.matches('}').count() as i64;
                    opened |= l.contains('{');
                    if opened && depth <= 0 {
                        break;
                    }
                }
            }
            continue;
        }
        if t.starts_with("//") {
            continue;
        }
        out.push_str(line.split(" //").next().unwrap());
        out.push('\n');
    }
    out
}

/// The module path of a library file: `a/b.rs` is `a::b`, `a/mod.rs` is `a`, `lib.rs` none.
fn module_of(file: &str) -> Vec<String> {
    let stem = file.trim_end_matches(".rs");
    let mut m: Vec<String> = stem.split('/').map(String::from).collect();
    if m.last().is_some_and(|l| l == "mod" || l == "lib") {
        m.pop();
    }
    m
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Parse the path or use-tree at the start of `s` (whitespace allowed around `::`, `{`, `,`):
/// every full path it names, as segments (groups `{a, b::{c, d}}` expanded, `*` dropped).
fn use_tree(s: &str) -> Vec<Vec<String>> {
    fn tree(s: &[char], i: &mut usize, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
        let skip_ws = |i: &mut usize| {
            while *i < s.len() && s[*i].is_whitespace() {
                *i += 1;
            }
        };
        let mut path = prefix;
        loop {
            skip_ws(i);
            if *i < s.len() && s[*i] == '{' {
                *i += 1;
                loop {
                    skip_ws(i);
                    if *i >= s.len() || s[*i] == '}' {
                        *i += 1;
                        break;
                    }
                    tree(s, i, path.clone(), out);
                    skip_ws(i);
                    if *i < s.len() && s[*i] == ',' {
                        *i += 1;
                    }
                }
                return;
            }
            if *i < s.len() && s[*i] == '*' {
                *i += 1;
                break;
            }
            let start = *i;
            while *i < s.len() && is_ident(s[*i]) {
                *i += 1;
            }
            if start == *i {
                break;
            }
            path.push(s[start..*i].iter().collect());
            let mut j = *i;
            while j < s.len() && s[j].is_whitespace() {
                j += 1;
            }
            if s.get(j) == Some(&':') && s.get(j + 1) == Some(&':') {
                *i = j + 2;
            } else {
                break;
            }
        }
        out.push(path);
    }
    let chars: Vec<char> = s.chars().take(4000).collect();
    let mut out = Vec::new();
    tree(&chars, &mut 0, Vec::new(), &mut out);
    out
}

/// Absolute module path of `path` written in module `here`, if it is one of this crate's:
/// `crate::`, `$crate::`, `super::` (any number), `self::`, or (in a `use`) a child module.
fn absolute(here: &[String], path: &[String], in_use: bool) -> Option<Vec<String>> {
    let first = path.first()?.as_str();
    let mut base: Vec<String> = match first {
        "crate" => Vec::new(),
        "super" | "self" => here.to_vec(),
        _ if in_use => here.to_vec(),
        _ => return None,
    };
    let mut rest = path;
    if first == "crate" {
        rest = &path[1..];
    }
    while let Some(seg) = rest.first() {
        match seg.as_str() {
            "super" => {
                base.pop()?;
            }
            "self" => {}
            _ => break,
        }
        rest = &rest[1..];
    }
    base.extend(rest.iter().cloned());
    Some(base)
}

fn imports(src: &Path, file: &str, text: &str) -> BTreeSet<String> {
    let code = code(text);
    let here = module_of(file);
    let mut out = BTreeSet::new();
    // A `mod.rs` (or `lib.rs`) re-exporting its own files is their public face, not a
    // dependency of its own code: those edges are left out (importers of a re-exported name
    // are resolved to the file that defines it, see `reexports`).
    let folder = file
        .rsplit_once('/')
        .map(|(d, _)| format!("{d}/"))
        .unwrap_or_default();
    let facade = file.ends_with("mod.rs") || file == "lib.rs";
    let mut add = |path: Vec<String>, in_use: bool, public: bool| {
        let Some(abs) = absolute(&here, &path, in_use) else {
            return;
        };
        let Some((mut target, n)) = resolve(src, &abs) else {
            return;
        };
        if target.ends_with("mod.rs") && n < abs.len() {
            if let Some(t) = reexports(src, &target).get(&abs[n]) {
                target = t.clone();
            }
        }
        if facade && public && target.starts_with(&folder) {
            return;
        }
        if target != file {
            out.insert(target);
        }
    };
    // `use` declarations (any visibility): the whole tree, relative paths included.
    for (i, _) in code.match_indices("use ") {
        let before = code[..i].chars().last();
        if before.is_some_and(|c| is_ident(c) || c == ':' || c == '$') {
            continue;
        }
        let lead = code[..i].trim_end();
        let public = lead.ends_with("pub") || lead.ends_with("pub(crate)");
        for p in use_tree(&code[i + 4..]) {
            add(p, true, public);
        }
    }
    // Paths anywhere in code (expressions, types, macro bodies): `crate::`, `$crate::`,
    // `super::`, `self::`.
    for prefix in ["crate::", "super::", "self::"] {
        for (i, _) in code.match_indices(prefix) {
            let before = code[..i].chars().last();
            if before.is_some_and(|c| is_ident(c) || c == ':') {
                continue;
            }
            let lead = code[..i].trim_end();
            let public = lead.ends_with("pub use") || lead.ends_with("pub(crate) use");
            for p in use_tree(&code[i..]) {
                add(p, false, public);
            }
        }
    }
    out
}

#[test]
fn lower_layers_never_import_upper_ones_and_files_form_no_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rs_files(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for p in &files {
        let rel = p
            .strip_prefix(&src)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let text = std::fs::read_to_string(p).unwrap();
        graph.insert(rel.clone(), imports(&src, &rel, &text));
    }
    assert!(graph.len() > 30, "found only {} files", graph.len());
    let mut upward = Vec::new();
    for (f, deps) in &graph {
        for d in deps {
            if layer(d) > layer(f) {
                upward.push(format!(
                    "src/{f} (layer {}) imports src/{d} (layer {})",
                    layer(f),
                    layer(d)
                ));
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports from a lower layer to a higher one:\n{}",
        upward.join("\n")
    );
    // Cycle check: depth-first search with colours.
    fn visit(
        f: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(f.to_string(), 1);
        stack.push(f.to_string());
        for d in &graph[f] {
            match state.get(d.as_str()).copied().unwrap_or(0) {
                1 => {
                    let i = stack.iter().position(|x| x == d).unwrap();
                    let mut c = stack[i..].to_vec();
                    c.push(d.clone());
                    return Some(c);
                }
                0 => {
                    if let Some(c) = visit(d, graph, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(f.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for f in graph.keys() {
        if state.get(f.as_str()).copied().unwrap_or(0) == 0 {
            let cycle = visit(f, &graph, &mut state, &mut Vec::new());
            assert!(
                cycle.is_none(),
                "import cycle between files: {}",
                cycle.unwrap().join(" -> ")
            );
        }
    }
}

#[test]
fn the_checker_sees_imports() {
    // The checker itself must find a known import, or the test above proves nothing.
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let text = std::fs::read_to_string(src.join("exec/parloop.rs")).unwrap();
    let deps = imports(&src, "exec/parloop.rs", &text);
    assert!(deps.contains("build/key.rs"), "{deps:?}");
    assert!(deps.contains("mpi/comm.rs"), "{deps:?}");
}

#[test]
fn the_checker_resolves_groups_nesting_super_and_relative_uses() {
    // A small source tree, and text in every form an import may take.
    let d = tempfile::tempdir().unwrap();
    let src = d.path();
    for f in [
        "lib.rs",
        "a/mod.rs",
        "a/b.rs",
        "a/c/mod.rs",
        "a/c/d.rs",
        "a/c/e.rs",
        "f.rs",
        "g.rs",
        "h.rs",
        "m.rs",
        "t.rs",
        "u.rs",
    ] {
        std::fs::create_dir_all(src.join(f).parent().unwrap()).unwrap();
        std::fs::write(src.join(f), "").unwrap();
    }
    let text = r#"
use crate::{f, a::{b::Thing, c::{d, e::Other}}};
pub use self::d::X;
use super::super::g::Y;
use std::collections::HashMap;
pub(crate) use
    crate::h::Z;
macro_rules! m { () => { $crate::m::call() }; }
#[cfg(test)]
fn helper() {}
fn later() { crate::t::run(); }
#[cfg(test)]
mod tests {
    use crate::u::Hidden;
}
"#;
    let deps = imports(src, "a/c/mod.rs", text);
    let want: BTreeSet<String> = [
        "f.rs", "a/b.rs", "a/c/d.rs", "a/c/e.rs", "g.rs", "h.rs", "m.rs", "t.rs",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(deps, want);
    // `super` of a `mod.rs` is its folder's parent; of a plain file, its folder.
    let deps = imports(
        src,
        "a/c/d.rs",
        "use super::e::W;\nuse super::super::b::V;\n",
    );
    assert_eq!(
        deps,
        ["a/b.rs", "a/c/e.rs"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    );
    // A relative `pub use` of a child module, in a `mod.rs`; a name it re-exports is imported
    // from the child, not from the facade.
    std::fs::write(src.join("a/mod.rs"), "pub mod b;\npub use b::Thing;\n").unwrap();
    let deps = imports(
        src,
        "a/mod.rs",
        "pub mod b;\nuse b::Thing;\npub use crate::f::F;\n",
    );
    assert!(deps.contains("a/b.rs") && deps.contains("f.rs"), "{deps:?}");
    let deps = imports(src, "f.rs", "use crate::a::Thing;\nuse crate::a::Other;\n");
    assert_eq!(
        deps,
        ["a/b.rs", "a/mod.rs"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    );
}

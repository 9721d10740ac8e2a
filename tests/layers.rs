//! The source tree's layering, checked: every `crate::` (and `super::`) path in the library's
//! code is resolved to the file it names; a file may import only from its own layer or a lower
//! one, and the import graph between files has no cycle. Test modules (after `#[cfg(test)]`)
//! and comments are not imports. The layers are those of docs/ARCHITECTURE.md.
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
        // The object-cache mechanism and the cache counters sit below the data model, which
        // keeps its DataSets (and Sparsities, plans) in them.
        ("cache/stats.rs", 2),
        ("cache/object.rs", 2),
        ("data/", 3),
        ("jit/", 4),
        ("cache/", 5),
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

/// The file a module path (segments after `crate`) names: the longest prefix that is a file.
fn resolve(src: &Path, segs: &[&str]) -> Option<String> {
    for n in (1..=segs.len()).rev() {
        let base = segs[..n].join("/");
        for cand in [format!("{base}.rs"), format!("{base}/mod.rs")] {
            if src.join(&cand).exists() {
                return Some(cand);
            }
        }
    }
    None
}

/// Code lines of a file: comments and the test module stripped.
fn code(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with("#[cfg(test)]") {
            break;
        }
        if t.starts_with("//") {
            continue;
        }
        out.push_str(line.split(" //").next().unwrap());
        out.push('\n');
    }
    out
}

fn imports(src: &Path, file: &str, text: &str) -> BTreeSet<String> {
    let code = code(text);
    let dir: Vec<&str> = match file.rsplit_once('/') {
        Some((d, _)) => d.split('/').collect(),
        None => Vec::new(),
    };
    let mut out = BTreeSet::new();
    for (prefix, base) in [("crate::", Vec::new()), ("super::", dir.clone())] {
        let mut rest = code.as_str();
        while let Some(i) = rest.find(prefix) {
            let before = rest[..i].chars().last();
            rest = &rest[i + prefix.len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            assert!(
                !rest.starts_with('{'),
                "src/{file}: write `use {prefix}a::b;` paths one module each, not `{prefix}{{..}}`"
            );
            let path: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            let mut segs: Vec<&str> = base.clone();
            segs.extend(path.split("::").filter(|s| !s.is_empty()));
            if let Some(target) = resolve(src, &segs) {
                if target != file {
                    out.insert(target);
                }
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
    assert!(deps.contains("cache/key.rs"), "{deps:?}");
    assert!(deps.contains("mpi/comm.rs"), "{deps:?}");
}

//! The house's layout holds: no file of src/ imports, directly or round a circle, a file that
//! imports it back, and no top-level module (folder) does either. A newcomer can then read the
//! crate from the bottom up (model, then the stages, then the application layer, then the
//! command line) without meeting a module that needs one above it.
//!
//! What counts as an import of file B by file A: a `use` of an item defined in B, or a path
//! (`crate::x::y`, `super::y`, a child module's `child::y`) that names it, outside A's test
//! modules. A `pub use` re-export is a module's public face, not a use, and a `mod` declaration
//! is containment; neither counts. The scan is textual (comments and string literals removed
//! first); a path it cannot resolve to a file of src/ is left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Module = Vec<String>;

/// Every .rs file of src/ by its module path (src/lib.rs is the empty path).
fn modules(src: &Path) -> BTreeMap<Module, PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(src, &mut files);
    let mut out = BTreeMap::new();
    for file in files {
        let rel = file.strip_prefix(src).unwrap().with_extension("");
        let mut parts: Module = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
        match parts.last().map(String::as_str) {
            Some("mod") | Some("lib") => {
                parts.pop();
            }
            Some("main") if parts.len() == 1 => continue,
            _ => {}
        }
        out.insert(parts, file);
    }
    out
}

/// The text with comments, string and char literals blanked out.
fn code_only(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            let mut depth = 0;
            while i < b.len() {
                if b[i..].starts_with(b"/*") {
                    depth += 1;
                    i += 2;
                } else if b[i..].starts_with(b"*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if b[i] == b'r' && (b[i..].starts_with(b"r\"") || b[i..].starts_with(b"r#")) {
            // A raw string: r"..." or r#"..."#.
            let mut j = i + 1;
            let mut hashes = 0;
            while j < b.len() && b[j] == b'#' {
                hashes += 1;
                j += 1;
            }
            if j < b.len() && b[j] == b'"' {
                let end: Vec<u8> = std::iter::once(b'"').chain(std::iter::repeat_n(b'#', hashes)).collect();
                j += 1;
                while j < b.len() && !b[j..].starts_with(&end) {
                    j += 1;
                }
                i = j + end.len();
                out.push_str("\"\"");
            } else {
                out.push('r');
                i += 1;
            }
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if b[i] == b'\'' && i + 2 < b.len() && (b[i + 2] == b'\'' || b[i + 1] == b'\\') {
            // A char literal ('x', '\n', '\u{..}'); lifetimes have no closing quote.
            i += 1;
            while i < b.len() && b[i] != b'\'' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
        } else {
            let c = text[i..].chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// The text without `#[cfg(test)] mod name { ... }` blocks and without `pub use` statements.
fn without_tests_and_reexports(code: &str) -> String {
    let mut out = code.to_string();
    while let Some(at) = out.find("#[cfg(test)]") {
        let after = &out[at + "#[cfg(test)]".len()..];
        let trimmed = after.trim_start();
        let end = if trimmed.starts_with("mod ") || trimmed.starts_with("pub mod ") {
            match out[at..].find('{') {
                Some(open) => {
                    let mut depth = 0;
                    let mut end = out.len();
                    for (k, c) in out[at + open..].char_indices() {
                        match c {
                            '{' => depth += 1,
                            '}' => {
                                depth -= 1;
                                if depth == 0 {
                                    end = at + open + k + 1;
                                    break;
                                }
                            }
                            _ => {}
                        }
                    }
                    end
                }
                None => at + "#[cfg(test)]".len(),
            }
        } else {
            at + "#[cfg(test)]".len()
        };
        out.replace_range(at..end, "");
    }
    let reexport = regex::Regex::new(r"\bpub(\([^)]*\))?\s+use\s[^;]*;").unwrap();
    reexport.replace_all(&out, "").into_owned()
}

/// The paths a use tree names: `a::{b, c::d as e, f::*}` gives a::b, a::c::d, a::f.
fn use_paths(tree: &str) -> Vec<Vec<String>> {
    fn expand(prefix: &[String], tree: &str, out: &mut Vec<Vec<String>>) {
        let tree = tree.trim();
        if let Some(open) = tree.find('{') {
            let head: Vec<String> =
                tree[..open].split("::").map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect();
            let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
            let mut depth = 0;
            let mut start = 0;
            let prefix: Vec<String> = prefix.iter().cloned().chain(head).collect();
            for (k, c) in inner.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        expand(&prefix, &inner[start..k], out);
                        start = k + 1;
                    }
                    _ => {}
                }
            }
            expand(&prefix, &inner[start..], out);
            return;
        }
        let path = tree.split(" as ").next().unwrap_or_default();
        let mut parts: Vec<String> = prefix.to_vec();
        parts.extend(path.split("::").map(str::trim).filter(|s| !s.is_empty()).map(String::from));
        while parts.last().is_some_and(|p| p == "self" || p == "*") {
            parts.pop();
        }
        if !parts.is_empty() {
            out.push(parts);
        }
    }
    let mut out = Vec::new();
    expand(&[], tree, &mut out);
    out
}

/// The module a path names from inside `module`, if it is one of this crate's.
fn absolute(module: &Module, path: &[String], files: &BTreeMap<Module, PathBuf>) -> Option<Module> {
    let first = path.first()?;
    let mut out: Module = match first.as_str() {
        "crate" => path[1..].to_vec(),
        "self" => module.iter().chain(&path[1..]).cloned().collect(),
        "super" => {
            let mut base = module.clone();
            let mut rest = path;
            while rest.first().is_some_and(|p| p == "super") {
                base.pop();
                rest = &rest[1..];
            }
            base.extend(rest.iter().cloned());
            base
        }
        child => {
            let mut candidate = module.clone();
            candidate.push(child.to_string());
            if !files.contains_key(&candidate) {
                return None;
            }
            module.iter().chain(path).cloned().collect()
        }
    };
    // The longest prefix that is a file: the module the item is defined in.
    while !out.is_empty() && !files.contains_key(&out) {
        out.pop();
    }
    Some(out)
}

/// File -> the files it imports from.
fn imports(files: &BTreeMap<Module, PathBuf>) -> BTreeMap<Module, BTreeSet<Module>> {
    let use_stmt = regex::Regex::new(r"\buse\s+([^;]+);").unwrap();
    let path = regex::Regex::new(r"\b[A-Za-z_][A-Za-z0-9_]*(?:::[A-Za-z_][A-Za-z0-9_]*)+").unwrap();
    let mut out = BTreeMap::new();
    for (module, file) in files {
        let code = without_tests_and_reexports(&code_only(&std::fs::read_to_string(file).unwrap()));
        let mut deps = BTreeSet::new();
        let mut add = |p: Vec<String>| {
            if let Some(target) = absolute(module, &p, files).filter(|t| t != module) {
                deps.insert(target);
            }
        };
        for m in use_stmt.captures_iter(&code) {
            use_paths(&m[1]).into_iter().for_each(&mut add);
        }
        for m in path.find_iter(&code) {
            add(m.as_str().split("::").map(String::from).collect());
        }
        out.insert(module.clone(), deps);
    }
    out
}

/// The strongly connected components of more than one node (Tarjan).
fn circles(graph: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<Vec<Module>> {
    struct Walk<'g> {
        graph: &'g BTreeMap<Module, BTreeSet<Module>>,
        index: BTreeMap<&'g Module, usize>,
        low: BTreeMap<&'g Module, usize>,
        stack: Vec<&'g Module>,
        on_stack: BTreeSet<&'g Module>,
        found: Vec<Vec<Module>>,
    }
    impl<'g> Walk<'g> {
        fn visit(&mut self, v: &'g Module) {
            let i = self.index.len();
            self.index.insert(v, i);
            self.low.insert(v, i);
            self.stack.push(v);
            self.on_stack.insert(v);
            for w in self.graph.get(v).into_iter().flatten() {
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let lw = self.low[w];
                    let lv = self.low.get_mut(v).unwrap();
                    *lv = (*lv).min(lw);
                } else if self.on_stack.contains(w) {
                    let iw = self.index[w];
                    let lv = self.low.get_mut(v).unwrap();
                    *lv = (*lv).min(iw);
                }
            }
            if self.low[v] == self.index[v] {
                let mut component = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack.remove(w);
                    component.push(w.clone());
                    if w == v {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort();
                    self.found.push(component);
                }
            }
        }
    }
    let mut walk = Walk {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !walk.index.contains_key(v) {
            walk.visit(v);
        }
    }
    walk.found
}

fn describe(circles: &[Vec<Module>], graph: &BTreeMap<Module, BTreeSet<Module>>) -> String {
    let name = |m: &Module| if m.is_empty() { "lib".to_string() } else { m.join("/") };
    circles
        .iter()
        .map(|c| {
            let edges: Vec<String> = c
                .iter()
                .flat_map(|a| {
                    graph[a].iter().filter(|b| c.contains(b)).map(move |b| format!("{} -> {}", name(a), name(b)))
                })
                .collect();
            format!("circle of {}: {}", c.iter().map(name).collect::<Vec<_>>().join(", "), edges.join("; "))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn no_file_imports_a_file_that_imports_it_back() {
    let files = modules(&src());
    assert!(files.len() > 50, "src/ read: {} files", files.len());
    let graph = imports(&files);
    let found = circles(&graph);
    assert!(found.is_empty(), "import circles between files:\n{}", describe(&found, &graph));
}

#[test]
fn no_top_level_module_imports_one_that_imports_it_back() {
    let files = modules(&src());
    let mut folders: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (from, deps) in imports(&files) {
        let Some(top) = from.first() else { continue };
        let entry = folders.entry(vec![top.clone()]).or_default();
        entry.extend(deps.into_iter().filter_map(|d| d.first().cloned()).filter(|d| d != top).map(|d| vec![d]));
    }
    let found = circles(&folders);
    assert!(found.is_empty(), "import circles between top-level modules:\n{}", describe(&found, &folders));
}

#[test]
fn the_checker_sees_a_circle_and_a_reexport_is_not_one() {
    let dir = tempfile::tempdir().unwrap();
    let write = |path: &str, text: &str| {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    write("lib.rs", "pub mod a;\npub mod b;\n");
    write(
        "a/mod.rs",
        "pub mod leaf;\npub use leaf::Thing;\n// use crate::b::Other;\npub fn f() -> crate::b::Other { todo!() }\n",
    );
    write("a/leaf.rs", "pub struct Thing;\nconst S: &str = \"crate::b::Other\";\n");
    write("b.rs", "use crate::a::leaf::Thing;\npub struct Other;\n#[cfg(test)]\nmod tests { use crate::a::f; }\n");
    let files = modules(dir.path());
    let graph = imports(&files);
    assert!(circles(&graph).is_empty(), "{:?}", graph);
    let a: Module = vec!["a".into()];
    let b: Module = vec!["b".into()];
    assert!(graph[&a].contains(&b));
    assert!(!graph[&a].contains(&vec!["a".to_string(), "leaf".to_string()]), "a re-export is not a use");
    write("b.rs", "use crate::a::{leaf::Thing, f as g};\npub struct Other;\n");
    let graph = imports(&modules(dir.path()));
    assert_eq!(circles(&graph), vec![vec![a, b]]);
}

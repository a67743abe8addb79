//! The library's modules form no cycle, neither between folders (base -> reference -> ingest ->
//! analysis -> export/store -> engine -> serve) nor between single modules, and a module never
//! reaches back into the folder module (`mod.rs`) that contains it. Checked on the source: every
//! `crate::a::b` path names the longest module it starts with.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module path (`analysis::rank`) -> the `crate::` module paths its source names.
fn modules() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![];
    let mut stack = vec![src.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                if p.file_name().unwrap() != "bin" {
                    stack.push(p);
                }
            } else if p.extension().is_some_and(|x| x == "rs") {
                files.push(p);
            }
        }
    }
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    for f in &files {
        let rel = f.strip_prefix(&src).unwrap().with_extension("");
        let mut parts: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        if parts.last().is_some_and(|l| l == "mod" || l == "lib") {
            parts.pop();
        }
        names.insert(parts.join("::"), std::fs::read_to_string(f).unwrap());
    }
    let known: Vec<String> = names.keys().cloned().collect();
    let mut out = BTreeMap::new();
    for (m, text) in &names {
        let mut deps = BTreeSet::new();
        // `use crate::a::{b, c::d}` and `crate::a::b::f(...)`: expand one level of braces.
        for (i, _) in text.match_indices("crate::") {
            let rest = &text[i + 7..];
            let path: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            let path = path.trim_end_matches(':').to_string();
            let mut targets = vec![path.clone()];
            if rest[path.len()..].starts_with("::{") || rest[path.len()..].starts_with('{') {
                let open = rest.find('{').unwrap();
                let close = rest[open..].find('}').map_or(rest.len(), |c| open + c);
                for item in rest[open + 1..close].split(',') {
                    let item = item.trim().split(" as ").next().unwrap().trim();
                    if !item.is_empty() && item != "self" {
                        targets.push(format!("{path}::{item}"));
                    }
                }
            }
            for t in targets {
                let segs: Vec<&str> = t.split("::").collect();
                let hit = (1..=segs.len())
                    .rev()
                    .map(|n| segs[..n].join("::"))
                    .find(|p| known.contains(p));
                if let Some(h) = hit {
                    if &h != m {
                        deps.insert(h);
                    }
                }
            }
        }
        out.insert(m.clone(), deps);
    }
    out
}

fn cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match state.get(n) {
            Some(1) => {
                let at = path.iter().position(|p| p == n).unwrap();
                let mut c = path[at..].to_vec();
                c.push(n.to_string());
                return Some(c);
            }
            Some(2) => return None,
            _ => {}
        }
        state.insert(n.to_string(), 1);
        path.push(n.to_string());
        for d in g.get(n).into_iter().flatten() {
            if let Some(c) = visit(d, g, state, path) {
                return Some(c);
            }
        }
        path.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in graph.keys() {
        if let Some(c) = visit(n, graph, &mut state, &mut vec![]) {
            return Some(c);
        }
    }
    None
}

#[test]
fn no_module_cycles() {
    let g = modules();
    assert!(g.len() > 20, "found only {} modules", g.len());
    assert!(
        g["analysis::rank"].contains("analysis::criteria"),
        "the scan misses edges: {:?}",
        g["analysis::rank"]
    );
    if let Some(c) = cycle(&g) {
        panic!("module cycle: {}", c.join(" -> "));
    }
}

#[test]
fn no_module_reaches_back_into_its_folder() {
    for (m, deps) in modules() {
        for d in deps {
            assert!(
                !(m.starts_with(&format!("{d}::"))),
                "{m} uses its own folder module {d}: move what it needs into a sibling module"
            );
        }
    }
}

#[test]
fn no_folder_cycles() {
    let mut top: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (m, deps) in modules() {
        let a = m.split("::").next().unwrap_or("").to_string();
        let e = top.entry(a.clone()).or_default();
        for d in deps {
            let b = d.split("::").next().unwrap().to_string();
            if b != a {
                e.insert(b);
            }
        }
    }
    if let Some(c) = cycle(&top) {
        panic!("folder cycle: {}", c.join(" -> "));
    }
    // The data flow, spelled out: nothing below the engine knows the engine or the server.
    for low in ["base", "reference", "ingest", "analysis", "export", "store"] {
        for high in ["engine", "serve"] {
            assert!(
                !top[low].contains(high),
                "{low} uses {high}, against the data flow"
            );
        }
    }
}

//! The layers, and the rule that keeps them: a module may use the layers below its own, never
//! those above (docs/architecture.md draws them). The pure layers are a crate of their own
//! (`core/`), so the compiler already keeps them from reaching up into the runtime; within each
//! crate, this test reads every `crate::` path and fails on one that points upwards.

use std::path::{Path, PathBuf};

/// Each crate's layers, bottom first, as path prefixes under the crate's `src/`.
const CORE: &[(&str, &[&str])] = &[
    ("hash slots", &["slot.rs"]),
    // A command's errors are replies: they sit with the wire format.
    ("wire format", &["resp/", "error.rs"]),
    ("data structures", &["types/"]),
    ("keyspace", &["db/"]),
    ("formats and configuration", &["rdb/", "aof/", "config"]),
];

const SERVER: &[(&str, &[&str])] = &[
    // The pure layers, re-exported by the server crate (`crate::db` is `tessera_core::db`).
    (
        "core",
        &[
            "resp",
            "types",
            "db",
            "rdb",
            "aof",
            "config",
            "error",
            "slot",
            "REDIS_VERSION",
        ],
    ),
    (
        "allocator, CPUs, the log, the OOM score",
        &["alloc.rs", "cpus.rs", "log.rs", "oom.rs"],
    ),
    ("runtime", &["shard/"]),
    ("persistence", &["persist/"]),
    // Scripts run commands, and commands include EVAL: one layer.
    ("commands", &["cmd/", "script/"]),
    ("connections", &["net/"]),
    ("start-up", &["server"]),
];

fn layer_of(layers: &[(&str, &[&str])], rel: &str) -> Option<usize> {
    layers
        .iter()
        .position(|(_, prefixes)| prefixes.iter().any(|p| rel.starts_with(p)))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable source directory") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every `crate::a::b` path in `text` (comments included: a doc link upwards is a dependency
/// of the reader, if not of the compiler).
fn crate_paths(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("crate::") {
        let tail = &rest[i + "crate::".len()..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(tail.len());
        out.push(tail[..end].trim_end_matches(':').to_string());
        rest = &tail[end..];
    }
    out
}

/// The layer a `crate::` path lands in: its longest module prefix that names a file.
fn target_layer(root: &Path, layers: &[(&str, &[&str])], path: &str) -> Option<usize> {
    let parts: Vec<&str> = path.split("::").collect();
    for n in (1..=parts.len()).rev() {
        let module = parts[..n].join("/");
        for candidate in [format!("{module}.rs"), format!("{module}/mod.rs")] {
            if root.join(&candidate).exists() {
                return layer_of(layers, &candidate);
            }
        }
    }
    // Re-exported from the core crate (no file here): its first segment says which layer.
    layer_of(layers, parts.first()?)
}

fn check(crate_dir: &str, layers: &[(&str, &[&str])]) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(crate_dir)
        .join("src");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let mut problems = Vec::new();
    for file in files {
        let rel = file
            .strip_prefix(&root)
            .expect("under src")
            .to_string_lossy()
            .replace('\\', "/");
        if rel == "lib.rs" || rel == "main.rs" {
            continue;
        }
        let Some(own) = layer_of(layers, &rel) else {
            problems.push(format!("{crate_dir}/src/{rel}: in no layer"));
            continue;
        };
        let text = std::fs::read_to_string(&file).expect("readable source file");
        for path in crate_paths(&text) {
            match target_layer(&root, layers, &path) {
                Some(l) if l > own => problems.push(format!(
                    "{crate_dir}/src/{rel} ({}) uses crate::{path} ({})",
                    layers[own].0, layers[l].0
                )),
                Some(_) => {}
                None => problems.push(format!(
                    "{crate_dir}/src/{rel}: crate::{path} is in no layer"
                )),
            }
        }
    }
    problems
}

#[test]
fn no_layer_uses_one_above_it() {
    let mut problems = check("core", CORE);
    problems.extend(check(".", SERVER));
    assert!(
        problems.is_empty(),
        "{} upward dependencies:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

//! The layer direction of `docs/architecture.md`, enforced on the source: every `crate::<module>`
//! reference outside test code points to a lower layer, so there are no import cycles between
//! modules and no path back up (adapters → use cases → engines → data and features).

#[path = "support/source_files.rs"]
mod source_files;
use source_files::rust_files;

use std::collections::BTreeMap;
use std::path::Path;

/// Each top-level module's layer; a module may only refer to modules of a lower layer.
const LAYERS: &[(&str, u8)] = &[
    // The command line (it starts the server), the composition root, the HTTP adapter.
    ("cli", 9),
    ("startup", 8),
    ("api", 7),
    // The EHR adapter (CDS Hooks, FHIR): translates FHIR and cards for the HTTP adapter.
    ("ehr", 6),
    // The quality committee's report: renders what the quality use cases compute.
    ("quality_report", 6),
    // Use cases.
    ("service", 5),
    ("train", 5),
    ("evaluate", 5),
    ("synth", 5),
    // Engines.
    ("rules", 4),
    ("model", 3),
    ("audit", 3),
    // Data.
    ("dataset", 2),
    ("metrics", 2),
    ("outcomes", 1),
    // Leaves.
    ("features", 0),
    ("clock", 0),
    ("config", 0),
    ("telemetry", 0),
];

/// The code of a file without its `#[cfg(test)]` module and without comments.
fn production_code(text: &str) -> Vec<(usize, &str)> {
    let mut lines = Vec::new();
    let mut iter = text.lines().enumerate().peekable();
    while let Some((n, line)) = iter.next() {
        let t = line.trim_start();
        if t.starts_with("#[cfg(test)]") {
            // Unit tests sit at the end of a file in this code base.
            if iter
                .peek()
                .is_some_and(|(_, l)| l.trim_start().starts_with("mod "))
                || iter
                    .peek()
                    .is_some_and(|(_, l)| l.trim_start().starts_with("#[allow"))
            {
                break;
            }
        }
        if t.starts_with("//") {
            continue;
        }
        lines.push((n + 1, line));
    }
    lines
}

/// `(from module, to module, file, line)` for every `crate::` reference.
fn references() -> Vec<(String, String, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let files = rust_files(&src);
    let mut out = Vec::new();
    for file in files {
        let rel = file.strip_prefix(&src).expect("under src");
        let first = rel
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .expect("component");
        let module = first.trim_end_matches(".rs").to_string();
        if module == "lib" || module == "main" {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("source");
        for (n, line) in production_code(&text) {
            let mut rest = line;
            while let Some(i) = rest.find("crate::") {
                rest = &rest[i + "crate::".len()..];
                let target: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !target.is_empty() && target != module {
                    out.push((
                        module.clone(),
                        target,
                        format!("{}:{n}: {}", rel.display(), line.trim()),
                    ));
                }
            }
        }
    }
    out
}

#[test]
fn every_module_has_a_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let layers: BTreeMap<&str, u8> = LAYERS.iter().copied().collect();
    for entry in std::fs::read_dir(&src).expect("src") {
        let name = entry.expect("entry").file_name();
        let name = name.to_string_lossy();
        let module = name.trim_end_matches(".rs");
        if module == "lib" || module == "main" {
            continue;
        }
        assert!(
            layers.contains_key(module),
            "src/{name} has no layer in tests/architecture.rs (and docs/architecture.md)"
        );
    }
}

#[test]
fn references_only_point_down_the_layers() {
    let layers: BTreeMap<&str, u8> = LAYERS.iter().copied().collect();
    let refs = references();
    assert!(refs.len() > 100, "only {} references found", refs.len());
    let mut wrong = Vec::new();
    for (from, to, at) in &refs {
        let (Some(a), Some(b)) = (layers.get(from.as_str()), layers.get(to.as_str())) else {
            wrong.push(format!("{from} -> {to} (unknown module): {at}"));
            continue;
        };
        if b >= a {
            wrong.push(format!("{from} (layer {a}) -> {to} (layer {b}): {at}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "references against the layer direction:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn handlers_do_not_decide() {
    // HTTP handlers extract, call the service and respond: no audit records, no validation, no
    // domain metrics of their own.
    let routes = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/api/routes");
    let files = rust_files(&routes);
    assert!(!files.is_empty());
    for file in files {
        let text = std::fs::read_to_string(&file).expect("source");
        for needle in [
            "AuditRecord",
            "record_prediction",
            "Patient::from_json",
            "service::validate",
            "predict_jobs",
            "context::build",
        ] {
            assert!(
                !production_code(&text)
                    .iter()
                    .any(|(_, l)| l.contains(needle)),
                "{} uses {needle}",
                file.display()
            );
        }
    }
}

//! Repository hygiene that a fresh machine needs: no test, bench or source file names an
//! absolute temporary path (each test works inside its own `tempfile` directory; a `/tmp/...`
//! literal once made the suite fail on every machine but the one it was written on).

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_absolute_tmp_paths_in_src_tests_or_benches() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // Built from parts so this file does not match itself.
    let needles = [
        concat!("\"/", "tmp/"),
        concat!("\"/", "tmp\""),
        concat!("\"/", "var/tmp"),
    ];
    let mut files = Vec::new();
    for dir in ["src", "tests", "benches"] {
        rust_files(&root.join(dir), &mut files);
    }
    assert!(files.len() > 50, "only {} files scanned", files.len());
    let mut found = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("utf-8 source");
        for (n, line) in text.lines().enumerate() {
            if needles.iter().any(|needle| line.contains(needle)) {
                found.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "absolute temporary paths:\n{}",
        found.join("\n")
    );
}

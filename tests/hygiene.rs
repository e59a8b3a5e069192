//! Repository hygiene that a fresh machine needs: no test, bench or source file names an
//! absolute temporary path (each test works inside its own `tempfile` directory; a `/tmp/...`
//! literal once made the suite fail on every machine but the one it was written on).

#[path = "support/source_files.rs"]
mod source_files;
use source_files::rust_files;

use std::path::Path;

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
        files.extend(rust_files(&root.join(dir)));
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

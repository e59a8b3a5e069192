//! The setup's prerequisite detection (`scripts/prereqs.sh`, sourced by `scripts/env.sh`) against
//! fake directory layouts: libclang counts only when a file bindgen can load is there
//! (`libclang.so`, `libclang-<N>.so`, `libclang.so.<N>`), never `libclang-cpp.so.<N>` (the C++
//! interface library that machine images ship on their own, which broke a fresh machine once).

use std::path::Path;
use std::process::Command;

fn script() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scripts/prereqs.sh")
        .display()
        .to_string()
}

/// Runs `periop_libclang_path <root>`; `Some(path)` when it reports one.
fn detect(root: &Path, libclang_path: Option<&str>) -> Option<String> {
    let mut cmd = Command::new("bash");
    cmd.arg("-c")
        .arg(r#"source "$1" && periop_libclang_path "$2""#)
        .arg("bash")
        .arg(script())
        .arg(root)
        .env_remove("LIBCLANG_PATH");
    if let Some(p) = libclang_path {
        cmd.env("LIBCLANG_PATH", p);
    }
    let out = cmd.output().expect("bash runs");
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    match out.status.code() {
        Some(0) => {
            assert!(!text.is_empty(), "success without a path");
            Some(text)
        }
        Some(1) => {
            assert!(text.is_empty(), "failure with output {text}");
            None
        }
        other => panic!(
            "unexpected exit {other:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

fn layout(files: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for f in files {
        let path = dir.path().join(f.trim_start_matches('/'));
        std::fs::create_dir_all(path.parent().expect("parent")).expect("dirs");
        std::fs::write(&path, b"\x7fELF").expect("file");
    }
    dir
}

#[test]
fn only_the_cpp_interface_library_is_not_libclang() {
    let root = layout(&[
        "/usr/lib/llvm-14/lib/libclang-cpp.so.14",
        "/usr/lib/x86_64-linux-gnu/libclang-cpp.so.14",
        "/usr/lib/llvm-14/lib/libLLVM-14.so",
    ]);
    assert_eq!(detect(root.path(), None), None);
}

#[test]
fn an_empty_machine_has_no_libclang() {
    let root = layout(&[]);
    assert_eq!(detect(root.path(), None), None);
}

#[test]
fn libclang_dev_layouts_are_found() {
    for file in [
        "/usr/lib/llvm-14/lib/libclang.so",
        "/usr/lib/llvm-16/lib/libclang-16.so",
        "/usr/lib/x86_64-linux-gnu/libclang-14.so.1",
        "/usr/lib/llvm-14/lib/libclang.so.1",
        "/usr/local/llvm18/lib/libclang.so",
        "/usr/lib64/libclang.so.18.1",
    ] {
        let root = layout(&["/usr/lib/llvm-14/lib/libclang-cpp.so.14", file]);
        let found = detect(root.path(), None).unwrap_or_else(|| panic!("{file} not found"));
        assert!(found.ends_with(file), "{file}: found {found}");
    }
}

#[test]
fn libclang_path_is_the_only_place_searched_when_set() {
    let root = layout(&[
        "/opt/clang/lib/libclang-cpp.so.17",
        "/usr/lib/llvm-14/lib/libclang.so",
    ]);
    assert_eq!(detect(root.path(), Some("/opt/clang/lib")), None);
    let root = layout(&["/opt/clang/lib/libclang.so"]);
    assert!(detect(root.path(), Some("/opt/clang/lib")).is_some());
}

#[test]
fn env_sh_detects_libclang_through_the_tested_function() {
    let env = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/env.sh"))
        .expect("env.sh");
    assert!(env.contains("source \"$(dirname \"${BASH_SOURCE[0]}\")/prereqs.sh\""));
    assert!(env.contains("periop_libclang_path >/dev/null || apt_missing+=(libclang-dev)"));
    assert!(
        !env.contains("compgen"),
        "a glob check bypasses the tested detection"
    );
}

/// Runs `periop_postgres_bin <root>`.
fn postgres_bin(root: &Path) -> Option<String> {
    let out = Command::new("bash")
        .arg("-c")
        .arg(r#"source "$1" && periop_postgres_bin "$2""#)
        .arg("bash")
        .arg(script())
        .arg(root)
        .output()
        .expect("bash runs");
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn executables(files: &[&str]) -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = layout(files);
    for f in files {
        let path = dir.path().join(f.trim_start_matches('/'));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    dir
}

#[test]
fn the_postgresql_client_alone_is_not_a_server() {
    let root = executables(&[
        "/usr/lib/postgresql/15/bin/psql",
        "/usr/lib/postgresql/15/bin/pg_dump",
    ]);
    assert_eq!(postgres_bin(root.path()), None);
    assert_eq!(postgres_bin(layout(&[]).path()), None);
}

#[test]
fn the_newest_postgresql_server_is_found() {
    let server = |v: &str| {
        ["initdb", "pg_ctl", "postgres"].map(|p| format!("/usr/lib/postgresql/{v}/bin/{p}"))
    };
    let mut files: Vec<String> = server("9").into_iter().chain(server("15")).collect();
    files.push("/usr/lib/postgresql/16/bin/psql".into());
    let refs: Vec<&str> = files.iter().map(String::as_str).collect();
    let root = executables(&refs);
    let found = postgres_bin(root.path()).expect("a server");
    assert!(found.ends_with("/usr/lib/postgresql/15/bin"), "{found}");
}

#[test]
fn test_sh_installs_postgresql_through_the_tested_function() {
    let test =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/test.sh"))
            .expect("test.sh");
    assert!(test.contains("if ! periop_postgres_bin >/dev/null; then"));
    assert!(test.contains("apt-get install -y -qq postgresql"));
}

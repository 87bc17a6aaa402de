//! The test harness itself: every test file is built into the one test binary, and
//! `common::temp_dir` cleans up after passing tests only.

use crate::common::temp_dir;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Cargo.toml sets `autotests = false` (the files are modules of `tests/all.rs`), so a
/// file without its `mod` line would never be compiled nor run.
#[test]
fn every_test_file_is_a_module_of_the_test_binary() {
    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let root = std::fs::read_to_string(tests.join("all.rs")).unwrap();
    let modules: BTreeSet<String> =
        root.lines().filter_map(|l| l.strip_prefix("mod ")?.strip_suffix(';')).map(str::to_string).collect();
    let files: BTreeSet<String> = std::fs::read_dir(&tests)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .filter(|name| name != "all")
        .collect();
    assert!(files.len() > 50 && modules.contains("common"), "{files:?} {modules:?}");
    let unlisted: Vec<_> = files.difference(&modules).collect();
    assert!(unlisted.is_empty(), "tests/all.rs lacks `mod NAME;` for these tests/NAME.rs files: {unlisted:?}");
}

/// The cleanup relies on this (`common::temp_dirs`): under `cargo test` and nextest,
/// with any `--test-threads`.
#[test]
fn libtest_runs_each_test_on_a_thread_named_after_it() {
    let thread = std::thread::current();
    let name = thread.name().unwrap_or("<unnamed>");
    assert!(name.ends_with("libtest_runs_each_test_on_a_thread_named_after_it"), "test thread named {name:?}");
}

/// Runs `body` on a thread named like libtest's test threads, as a test of its own;
/// returns whether it passed.
fn run_as_test(body: impl FnOnce() + Send + 'static) -> bool {
    std::thread::Builder::new().name("harness::inner_test".into()).spawn(body).unwrap().join().is_ok()
}

#[test]
fn temp_dirs_of_a_passing_test_are_removed() {
    let (tx, rx) = std::sync::mpsc::channel();
    let passed = run_as_test(move || {
        let dir = temp_dir("harness-pass");
        std::fs::write(dir.join("file"), b"x").unwrap();
        std::fs::create_dir(dir.join("sub")).unwrap();
        tx.send(dir).unwrap();
    });
    let dir: PathBuf = rx.recv().unwrap();
    assert!(passed);
    assert!(!dir.exists(), "{} is left after the test passed", dir.display());
}

#[test]
fn temp_dirs_of_a_failing_test_are_kept() {
    let (tx, rx) = std::sync::mpsc::channel();
    let passed = run_as_test(move || {
        let dir = temp_dir("harness-fail");
        std::fs::write(dir.join("evidence"), b"x").unwrap();
        tx.send(dir).unwrap();
        panic!("this inner test fails on purpose");
    });
    let dir: PathBuf = rx.recv().unwrap();
    assert!(!passed);
    let kept = dir.join("evidence").exists();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(kept, "{} was removed although its test failed", dir.display());
}

/// A helper thread a test spawns may end before the test is done with what it made.
#[test]
fn temp_dirs_made_on_a_helper_thread_outlive_it() {
    let dir = std::thread::spawn(|| temp_dir("harness-helper")).join().unwrap();
    assert!(dir.exists(), "{} was removed when the helper thread ended", dir.display());
    let _ = std::fs::remove_dir_all(&dir);
}

//! The temporary directories of integration tests: removed when the test passes, kept
//! when it fails, with their paths printed under the panic message so the failure
//! output says where they are.
//!
//! libtest (under `cargo test` and under nextest alike) runs each test on a thread of
//! its own named after the test. A directory made on such a thread is recorded in that
//! thread's list, and the list is removed when the thread ends, after the test function
//! returned or unwound, unless a panic happened on the thread: that is how a test fails.
//! Directories made on a helper thread a test spawned (unnamed) are not recorded, as
//! such a thread may end while the test still uses what it made; they stay in /tmp.
//! A test killed by nextest's timeout removes nothing either.

use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};
use std::sync::Once;

struct TestDirs {
    made: RefCell<Vec<PathBuf>>,
    failed: Cell<bool>,
}

impl Drop for TestDirs {
    fn drop(&mut self) {
        if self.failed.get() {
            return;
        }
        for dir in self.made.get_mut().drain(..) {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}

thread_local! {
    static TEST_DIRS: TestDirs = const { TestDirs { made: RefCell::new(Vec::new()), failed: Cell::new(false) } };
}

static HOOK: Once = Once::new();

/// Records `dir` for removal when the current test passes (see the module comment).
pub fn remove_when_test_passes(dir: &Path) {
    if !on_test_thread() {
        return;
    }
    HOOK.call_once(install_panic_hook);
    TEST_DIRS.with(|d| d.made.borrow_mut().push(dir.to_path_buf()));
}

/// libtest names a test's thread after the test; the main thread is "main", and
/// threads from `std::thread::spawn` have no name.
fn on_test_thread() -> bool {
    std::thread::current().name().is_some_and(|n| n != "main")
}

/// Chains to the hook in place (which prints the panic message), then marks the
/// thread's directories as kept and lists those that exist.
fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        previous(info);
        let _ = TEST_DIRS.try_with(|d| {
            d.failed.set(true);
            let Ok(made) = d.made.try_borrow() else { return };
            let kept: Vec<String> = made.iter().filter(|p| p.exists()).map(|p| p.display().to_string()).collect();
            if !kept.is_empty() {
                eprintln!("the failed test's temporary directories are kept: {}", kept.join(" "));
            }
        });
    }));
}

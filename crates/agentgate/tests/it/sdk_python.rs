//! The Python SDK (`sdks/python`): its pytest suite, run against this build's `agentgate` binary. The suite
//! starts its own gateways (each on a free loopback port with its own SQLite file) and a webhook receiver on
//! 127.0.0.1. Without `httpx` or `pytest` the test prints a note and passes (`.ci/run` installs them).

use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_agentgate");
const WORKSPACE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
/// Far above what the suite needs (well under a minute), so only a hang ends it.
const SUITE_LIMIT: Duration = Duration::from_secs(20 * 60);

fn python_packages_available() -> bool {
    let probe = Command::new("python3").args(["-c", "import httpx, pytest"]).output();
    let ok = probe.is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("note: skipping the Python SDK suite: httpx or pytest is missing (pip install httpx pytest)");
    }
    ok
}

#[test]
fn python_sdk_suite_passes_against_the_real_gateway() {
    if !python_packages_available() {
        return;
    }
    let sdk = Path::new(WORKSPACE).join("sdks/python");
    let logs = tempfile::tempdir().expect("temp dir");
    let (stdout_path, stderr_path) = (logs.path().join("stdout"), logs.path().join("stderr"));
    let mut child = Command::new("python3")
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .arg(&sdk)
        .current_dir(&sdk)
        .env("AGENTGATE_BIN", BIN)
        // The SDK reads these as defaults; the suite passes its own gateway's URL and key explicitly.
        .env_remove("AGENTGATE_URL")
        .env_remove("AGENTGATE_API_KEY")
        .stdin(Stdio::null())
        .stdout(File::create(&stdout_path).expect("stdout file"))
        .stderr(File::create(&stderr_path).expect("stderr file"))
        .spawn()
        .expect("run python3 -m pytest");
    let deadline = Instant::now() + SUITE_LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let stdout = std::fs::read_to_string(&stdout_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    let Some(status) = status else {
        panic!("the Python SDK suite did not finish within {SUITE_LIMIT:?}\nstdout:\n{stdout}\nstderr:\n{stderr}");
    };
    assert!(status.success(), "the Python SDK suite failed ({status})\nstdout:\n{stdout}\nstderr:\n{stderr}");
    // The summary line, so `cargo test` output shows how much ran.
    if let Some(summary) = stdout.lines().rev().find(|l| !l.trim().is_empty()) {
        eprintln!("python sdk: {summary}");
    }
}

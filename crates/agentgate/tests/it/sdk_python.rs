//! The Python SDK (`sdks/python`): its pytest suite, run against this build's `agentgate` binary. The suite
//! starts its own gateways (each on a free loopback port with its own SQLite file) and a webhook receiver on
//! 127.0.0.1. Without `httpx` or `pytest` the test prints a note and passes (`.ci/run` installs them).

use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_agentgate");
const WORKSPACE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

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
    let output = Command::new("python3")
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .arg(&sdk)
        .current_dir(&sdk)
        .env("AGENTGATE_BIN", BIN)
        // The SDK reads these as defaults; the suite passes its own gateway's URL and key explicitly.
        .env_remove("AGENTGATE_URL")
        .env_remove("AGENTGATE_API_KEY")
        .output()
        .expect("run python3 -m pytest");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the Python SDK suite failed\nstdout:\n{stdout}\nstderr:\n{stderr}");
    // The summary line, so `cargo test` output shows how much ran.
    if let Some(summary) = stdout.lines().rev().find(|l| !l.trim().is_empty()) {
        eprintln!("python sdk: {summary}");
    }
}

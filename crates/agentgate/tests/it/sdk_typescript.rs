//! The TypeScript SDK (`sdks/typescript`, `@agentgate/sdk`), tested by its own `node --test` suite against this
//! build's `agentgate` binary: `npm test` builds the package, type-checks its published declarations and runs the
//! tests, each test file starting its own gateway process on 127.0.0.1 with its own SQLite file.
//! Without Node.js 20+ and npm, or before `npm ci` in sdks/typescript, it prints a note and passes (`.ci/run`
//! runs `npm ci`).

use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_agentgate");
const SDK_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../sdks/typescript");

/// Why the suite cannot run here, if it cannot.
fn missing_prerequisite(sdk: &Path) -> Option<String> {
    let version = Command::new("node").arg("--version").output().ok().filter(|o| o.status.success());
    let Some(version) = version else {
        return Some("Node.js is not installed".into());
    };
    let version = String::from_utf8_lossy(&version.stdout).trim().to_owned();
    let major = version.trim_start_matches('v').split('.').next().and_then(|m| m.parse::<u32>().ok());
    if major.is_none_or(|m| m < 20) {
        return Some(format!("the SDK needs Node.js 20 or later, found {version}"));
    }
    if !Command::new("npm").arg("--version").output().is_ok_and(|o| o.status.success()) {
        return Some("npm is not installed".into());
    }
    if !sdk.join("node_modules").is_dir() {
        return Some("its dev dependencies are not installed (run `npm ci` in sdks/typescript)".into());
    }
    None
}

#[test]
fn the_typescript_sdk_passes_its_suite_against_the_real_gateway() {
    let sdk = Path::new(SDK_DIR);
    if let Some(reason) = missing_prerequisite(sdk) {
        eprintln!("note: skipping the TypeScript SDK tests: {reason}");
        return;
    }
    let output = Command::new("npm")
        .arg("test")
        .current_dir(sdk)
        .env("AGENTGATE_BIN", BIN)
        // The SDK reads these as defaults; the suite sets its own.
        .env_remove("AGENTGATE_URL")
        .env_remove("AGENTGATE_API_KEY")
        .output()
        .expect("run npm test");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "npm test failed in sdks/typescript\nstdout:\n{stdout}\nstderr:\n{stderr}");
}

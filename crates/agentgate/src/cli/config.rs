//! The client configuration: `~/.agentgate/config.json` (the same file and keys as the older TypeScript CLI),
//! overridden by `AGENTGATE_URL`/`AGENTGATE_API_KEY`, overridden in turn by `--server-url`/`--api-key`.
//!
//! The file holds a secret, so its directory is created 0700 and the file written 0600 (atomically: a temporary
//! file renamed over it). The API key is masked whenever it is shown.

use super::output::{self, Format, Output};
use super::{CliError, GlobalArgs, Outcome, exit};
use agentgate_client::Client;
use clap::{Subcommand, ValueEnum};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const DEFAULT_URL: &str = "http://localhost:3000";
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;
const URL_VAR: &str = "AGENTGATE_URL";
const KEY_VAR: &str = "AGENTGATE_API_KEY";

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Show the effective configuration and where each value comes from
    Show,
    /// Print one effective value (the API key masked)
    Get {
        #[arg(value_enum)]
        key: Setting,
    },
    /// Set a value in the config file (an empty value removes it, so the default applies)
    Set {
        #[arg(value_enum)]
        key: Setting,
        value: String,
    },
    /// Empty the config file: every value back to its default
    Reset,
    /// Print the config file's path
    Path,
}

/// The keys of the config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Setting {
    /// The gateway's URL [default http://localhost:3000]
    #[value(name = "serverUrl", alias = "server-url")]
    ServerUrl,
    /// The API key sent as the bearer credential
    #[value(name = "apiKey", alias = "api-key")]
    ApiKey,
    /// HTTP timeout in milliseconds [default 30000]
    #[value(name = "timeout")]
    Timeout,
    /// table, plain or json [default table]
    #[value(name = "outputFormat", alias = "output-format")]
    OutputFormat,
}

impl Setting {
    fn name(self) -> &'static str {
        match self {
            Self::ServerUrl => "serverUrl",
            Self::ApiKey => "apiKey",
            Self::Timeout => "timeout",
            Self::OutputFormat => "outputFormat",
        }
    }
}

/// The file's contents. Unknown keys are kept, so a newer or older CLI's settings survive a `set`.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FileConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    server_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    api_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    timeout: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    output_format: Option<Format>,
    #[serde(flatten)]
    other: Map<String, Value>,
}

/// Where an effective value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Flag,
    Env(&'static str),
    File,
    Default,
}

impl Source {
    fn describe(self) -> &'static str {
        match self {
            Self::Flag => "flag",
            Self::Env(name) => name,
            Self::File => "config file",
            Self::Default => "default",
        }
    }
}

/// The effective client configuration.
pub struct Settings {
    pub path: PathBuf,
    pub url: (String, Source),
    pub api_key: (String, Source),
    pub timeout_ms: (u64, Source),
    pub format: Format,
    format_source: Source,
}

impl Settings {
    /// Flags over environment over file over defaults. A config file that cannot be read or parsed is
    /// reported on stderr and ignored (as the older CLI did), so a broken file never blocks an approval.
    pub fn resolve(global: &GlobalArgs) -> Result<Self, CliError> {
        let path = config_path()?;
        let file = match read_file(&path) {
            Ok(file) => file.unwrap_or_default(),
            Err(e) => {
                output::note(&format!("agentgate: warning: ignoring {}: {e}", path.display()));
                FileConfig::default()
            }
        };
        let env = |name: &'static str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let pick = |flag: Option<&String>, var: &'static str, file: Option<&String>, default: &str| {
            if let Some(v) = flag.filter(|v| !v.trim().is_empty()) {
                (v.trim().to_owned(), Source::Flag)
            } else if let Some(v) = env(var) {
                (v.trim().to_owned(), Source::Env(var))
            } else if let Some(v) = file.filter(|v| !v.trim().is_empty()) {
                (v.trim().to_owned(), Source::File)
            } else {
                (default.to_owned(), Source::Default)
            }
        };
        let url = pick(global.server_url.as_ref(), URL_VAR, file.server_url.as_ref(), DEFAULT_URL);
        let api_key = pick(global.api_key.as_ref(), KEY_VAR, file.api_key.as_ref(), "");
        let timeout_ms =
            file.timeout.filter(|t| *t > 0).map_or((DEFAULT_TIMEOUT_MS, Source::Default), |t| (t, Source::File));
        let (format, format_source) = if global.json {
            (Format::Json, Source::Flag)
        } else if let Some(format) = global.format {
            (format, Source::Flag)
        } else if let Some(format) = file.output_format {
            (format, Source::File)
        } else {
            (Format::default(), Source::Default)
        };
        Ok(Self { path, url, api_key, timeout_ms, format, format_source })
    }

    /// A client for the configured gateway; an error when no API key is configured anywhere.
    pub fn client(&self) -> Result<Client, CliError> {
        if self.api_key.0.is_empty() {
            return Err(CliError::failed(format!(
                "no API key: set {KEY_VAR}, pass --api-key, or run `agentgate config set apiKey <key>`"
            )));
        }
        Client::builder(self.url.0.clone())
            .api_key(self.api_key.0.clone())
            .timeout(Duration::from_millis(self.timeout_ms.0))
            .build()
            .map_err(|e| CliError::failed(format!("{e} (from {})", self.url.1.describe())))
    }

    fn value(&self, key: Setting) -> (String, Source) {
        match key {
            Setting::ServerUrl => self.url.clone(),
            Setting::ApiKey => (mask(&self.api_key.0), self.api_key.1),
            Setting::Timeout => (self.timeout_ms.0.to_string(), self.timeout_ms.1),
            Setting::OutputFormat => (self.format.as_str().to_owned(), self.format_source),
        }
    }
}

pub fn run(command: ConfigCommand, global: &GlobalArgs) -> Outcome {
    let settings = Settings::resolve(global)?;
    let out = Output::new(settings.format);
    let path = settings.path.display().to_string();
    match command {
        ConfigCommand::Path => {
            if out.is_json() {
                out.json(&json!({ "path": path }))?;
            } else {
                output::emit(&path);
            }
        }
        ConfigCommand::Show => {
            let keys = [Setting::ServerUrl, Setting::ApiKey, Setting::Timeout, Setting::OutputFormat];
            if out.is_json() {
                let mut shown = Map::new();
                shown.insert("path".into(), json!(path));
                let mut sources = Map::new();
                for key in keys {
                    let (value, source) = settings.value(key);
                    let value = match key {
                        Setting::Timeout => json!(settings.timeout_ms.0),
                        _ => json!(value),
                    };
                    shown.insert(key.name().into(), value);
                    sources.insert(key.name().into(), json!(source.describe()));
                }
                shown.insert("sources".into(), Value::Object(sources));
                out.json(&shown)?;
            } else {
                out.message(&format!("Config file: {path}"));
                let rows = keys
                    .iter()
                    .map(|key| {
                        let (value, source) = settings.value(*key);
                        vec![key.name().to_owned(), value, source.describe().to_owned()]
                    })
                    .collect();
                out.rows(&["KEY", "VALUE", "FROM"], rows);
            }
        }
        ConfigCommand::Get { key } => {
            let (value, source) = settings.value(key);
            if out.is_json() {
                out.json(&json!({ "key": key.name(), "value": value, "source": source.describe() }))?;
            } else {
                output::emit(&value);
            }
        }
        ConfigCommand::Set { key, value } => {
            let mut file = read_file(&settings.path)
                .map_err(|e| {
                    CliError::failed(format!(
                        "cannot update {path}: {e}; fix it by hand or start again with `agentgate config reset`"
                    ))
                })?
                .unwrap_or_default();
            let shown = set_value(&mut file, key, value.trim())?;
            write_file(&settings.path, &file)?;
            if out.is_json() {
                out.json(&json!({ "key": key.name(), "value": shown, "path": path }))?;
            } else {
                out.message(&format!("Set {} = {shown}", key.name()));
            }
            let overridden = match key {
                Setting::ServerUrl => std::env::var(URL_VAR).is_ok_and(|v| !v.trim().is_empty()).then_some(URL_VAR),
                Setting::ApiKey => std::env::var(KEY_VAR).is_ok_and(|v| !v.trim().is_empty()).then_some(KEY_VAR),
                _ => None,
            };
            if let Some(var) = overridden {
                output::note(&format!("note: {var} is set in the environment and overrides the config file"));
            }
        }
        ConfigCommand::Reset => {
            write_file(&settings.path, &FileConfig::default())?;
            if out.is_json() {
                out.json(&json!({ "path": path, "reset": true }))?;
            } else {
                out.message(&format!("Reset {path}: every value is back to its default"));
            }
        }
    }
    Ok(exit::OK)
}

/// Validates and stores one value (empty removes it); returns the value as it may be shown.
fn set_value(file: &mut FileConfig, key: Setting, value: &str) -> Result<String, CliError> {
    let shown = match key {
        Setting::ServerUrl if value.is_empty() => {
            file.server_url = None;
            format!("{DEFAULT_URL} (default)")
        }
        Setting::ServerUrl => {
            let url = value.trim_end_matches('/');
            let valid = (url.starts_with("http://") || url.starts_with("https://")) && reqwest::Url::parse(url).is_ok();
            if !valid {
                return Err(CliError::usage(format!("serverUrl must be an http:// or https:// URL, got {value:?}")));
            }
            file.server_url = Some(url.to_owned());
            url.to_owned()
        }
        Setting::ApiKey => {
            if value.chars().any(char::is_whitespace) {
                return Err(CliError::usage("apiKey must not contain spaces"));
            }
            file.api_key = (!value.is_empty()).then(|| value.to_owned());
            mask(value)
        }
        Setting::Timeout if value.is_empty() => {
            file.timeout = None;
            format!("{DEFAULT_TIMEOUT_MS} (default)")
        }
        Setting::Timeout => {
            let ms = value.parse::<u64>().ok().filter(|ms| *ms > 0).ok_or_else(|| {
                CliError::usage(format!("timeout must be a positive whole number of milliseconds, got {value:?}"))
            })?;
            file.timeout = Some(ms);
            ms.to_string()
        }
        Setting::OutputFormat if value.is_empty() => {
            file.output_format = None;
            "table (default)".to_owned()
        }
        Setting::OutputFormat => {
            let format = Format::from_str(value, true)
                .map_err(|_| CliError::usage(format!("outputFormat must be json, table or plain, got {value:?}")))?;
            file.output_format = Some(format);
            format.as_str().to_owned()
        }
    };
    Ok(shown)
}

/// `agk_…wxyz`: enough to tell keys apart, not enough to use one.
pub fn mask(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    match chars.len() {
        0 => "(not set)".to_owned(),
        n if n >= 16 => {
            format!("{}…{}", chars[..4].iter().collect::<String>(), chars[n - 4..].iter().collect::<String>())
        }
        _ => "****".to_owned(),
    }
}

/// `$HOME/.agentgate/config.json`.
pub fn config_path() -> Result<PathBuf, CliError> {
    let home = ["HOME", "USERPROFILE"]
        .iter()
        .find_map(|name| std::env::var_os(name).filter(|v| !v.is_empty()))
        .ok_or_else(|| CliError::failed("cannot find the home directory for ~/.agentgate/config.json: set HOME"))?;
    Ok(PathBuf::from(home).join(".agentgate").join("config.json"))
}

/// The file's contents; `None` when there is no file.
fn read_file(path: &Path) -> Result<Option<FileConfig>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    if text.trim().is_empty() {
        return Ok(Some(FileConfig::default()));
    }
    serde_json::from_str(&text).map(Some).map_err(|e| format!("not a valid config file ({e})"))
}

/// Writes the file atomically with mode 0600, in a directory with mode 0700.
fn write_file(path: &Path, config: &FileConfig) -> Result<(), CliError> {
    use std::io::Write;
    let failed = |what: &str, e: std::io::Error| CliError::failed(format!("cannot {what} {}: {e}", path.display()));
    let dir = path.parent().ok_or_else(|| CliError::failed("the config path has no directory"))?;
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        builder.mode(0o700);
        builder.create(dir).map_err(|e| failed("create the directory of", e))?;
        // A directory made by an older CLI may be readable by others; this one holds a secret.
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| failed("restrict the directory of", e))?;
    }
    #[cfg(not(unix))]
    builder.create(dir).map_err(|e| failed("create the directory of", e))?;

    let mut text = serde_json::to_string_pretty(config).map_err(|e| CliError::failed(e.to_string()))?;
    text.push('\n');
    let temp = dir.join(format!(".config.json.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&temp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let written = options.open(&temp).and_then(|mut file| {
        file.write_all(text.as_bytes())?;
        file.sync_all()
    });
    if let Err(e) = written.and_then(|()| std::fs::rename(&temp, path)) {
        let _ = std::fs::remove_file(&temp);
        return Err(failed("write", e));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_masked() {
        assert_eq!(mask(""), "(not set)");
        assert_eq!(mask("short"), "****");
        assert_eq!(mask("agk_0123456789abcdefXYZW"), "agk_…XYZW");
    }

    #[test]
    fn values_are_validated_before_they_are_stored() {
        let mut file = FileConfig::default();
        assert_eq!(
            set_value(&mut file, Setting::ServerUrl, "https://gate.example.com/").ok().as_deref(),
            Some("https://gate.example.com")
        );
        assert!(set_value(&mut file, Setting::ServerUrl, "gate.example.com").is_err());
        assert!(set_value(&mut file, Setting::Timeout, "0").is_err());
        assert!(set_value(&mut file, Setting::Timeout, "soon").is_err());
        assert_eq!(set_value(&mut file, Setting::Timeout, "5000").ok().as_deref(), Some("5000"));
        assert!(set_value(&mut file, Setting::OutputFormat, "xml").is_err());
        assert_eq!(set_value(&mut file, Setting::OutputFormat, "JSON").ok().as_deref(), Some("json"));
        assert!(set_value(&mut file, Setting::ApiKey, "agk_ with space").is_err());
        let saved = serde_json::to_value(&file).expect("serialises");
        assert_eq!(saved, json!({"serverUrl": "https://gate.example.com", "timeout": 5000, "outputFormat": "json"}));
        set_value(&mut file, Setting::Timeout, "").expect("removed");
        assert_eq!(file.timeout, None);
    }

    #[test]
    fn unknown_keys_survive() {
        let file: FileConfig = serde_json::from_str(r#"{"apiKey":"k","theme":"dark"}"#).expect("parses");
        let saved = serde_json::to_value(&file).expect("serialises");
        assert_eq!(saved, json!({"apiKey": "k", "theme": "dark"}));
    }
}

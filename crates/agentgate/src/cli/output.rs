//! How results are printed: tables that fit the terminal (long columns truncated), plain tab-separated lines for
//! `cut` and `awk`, or the gateway's JSON. Data goes to stdout, messages about progress to stderr.

use super::CliError;
use agentgate_core::Timestamp;
use clap::ValueEnum;
use comfy_table::{ColumnConstraint, ContentArrangement, Row, Table, Width, presets};
use serde::{Deserialize, Serialize};
use std::io::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Tables and messages for people
    #[default]
    Table,
    /// Tab-separated lines, no headers
    Plain,
    /// The gateway's JSON
    Json,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Table => "table",
            Self::Plain => "plain",
            Self::Json => "json",
        }
    }
}

pub struct Output {
    pub format: Format,
}

impl Output {
    pub fn new(format: Format) -> Self {
        Self { format }
    }

    pub fn is_json(&self) -> bool {
        self.format == Format::Json
    }

    /// Pretty JSON on stdout.
    pub fn json(&self, value: &impl Serialize) -> Result<(), CliError> {
        let text = serde_json::to_string_pretty(value).map_err(|e| CliError::failed(e.to_string()))?;
        emit(&text);
        Ok(())
    }

    /// A line on stdout (a message for people; nothing is printed in JSON mode).
    pub fn message(&self, text: &str) {
        if !self.is_json() {
            emit(text);
        }
    }

    /// Rows under a header: a table, or tab-separated lines without the header in plain mode.
    pub fn rows(&self, header: &[&str], rows: Vec<Vec<String>>) {
        match self.format {
            Format::Plain => {
                for row in rows {
                    emit(&row.join("\t"));
                }
            }
            _ => {
                let mut table = new_table(true);
                table.set_header(header.to_vec());
                // The first column is what names a row (an id, most often): never cut it, so it can be copied.
                // The others may shrink down to their header, never into it.
                for (i, name) in header.iter().enumerate() {
                    let constraint = match i {
                        0 => ColumnConstraint::ContentWidth,
                        _ => ColumnConstraint::LowerBoundary(Width::Fixed(name.chars().count() as u16)),
                    };
                    if let Some(column) = table.column_mut(i) {
                        column.set_constraint(constraint);
                    }
                }
                for cells in rows {
                    let mut row = Row::from(cells);
                    // One line per row: a long value is cut (with …) rather than wrapped.
                    row.max_height(1);
                    table.add_row(row);
                }
                emit(&table.to_string());
            }
        }
    }

    /// Name–value pairs of one object (a table without a header); empty values are left out.
    pub fn fields(&self, fields: Vec<(&str, String)>) {
        let fields = fields.into_iter().filter(|(_, v)| !v.is_empty());
        match self.format {
            Format::Plain => {
                for (name, value) in fields {
                    emit(&format!("{name}\t{value}"));
                }
            }
            _ => {
                let mut table = new_table(false);
                for (name, value) in fields {
                    table.add_row(vec![name.to_owned(), value]);
                }
                emit(&table.to_string());
            }
        }
    }
}

fn new_table(truncate: bool) -> Table {
    let mut table = Table::new();
    table.load_style(presets::UTF8_FULL_CONDENSED.with_rounded_corners()).set_truncation_indicator("…");
    if let Some(width) = terminal_width() {
        table.set_width(width).set_content_arrangement(if truncate {
            ContentArrangement::Dynamic
        } else {
            ContentArrangement::DynamicFullWidth
        });
    }
    table
}

/// The width to fit: `COLUMNS` when set, else the terminal's; none when stdout is not a terminal (a pipe gets
/// whole values).
fn terminal_width() -> Option<u16> {
    if let Some(columns) = std::env::var("COLUMNS").ok().and_then(|c| c.trim().parse::<u16>().ok())
        && columns > 0
    {
        return Some(columns);
    }
    terminal_size::terminal_size_of(std::io::stdout()).map(|(terminal_size::Width(w), _)| w)
}

/// Writes a line to stdout; a closed pipe (`agentgate list | head -1`) is not an error.
pub fn emit(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
}

/// A line for people on stderr (progress, notes), so stdout stays clean for data.
pub fn note(text: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

/// `2026-11-25 10:00:00` (UTC), short enough for a table.
pub fn time(t: Timestamp) -> String {
    let iso = t.to_iso();
    iso.get(..19).map_or(iso.clone(), |s| s.replace('T', " "))
}

/// `2026-11-25 10:00:00 UTC`, or empty.
pub fn utc(t: Option<Timestamp>) -> String {
    t.map(|t| format!("{} UTC", time(t))).unwrap_or_default()
}

/// Unix seconds (API keys) as a table time.
pub fn unix_seconds(s: i64) -> String {
    time(Timestamp::from_millis(s.saturating_mul(1000)))
}

/// Epoch milliseconds (webhooks) as a table time.
pub fn epoch_millis(ms: i64) -> String {
    time(Timestamp::from_millis(ms))
}

/// Compact JSON for a table cell; empty for `{}` and null.
pub fn compact(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Null => String::new(),
        serde_json::Value::Object(map) if map.is_empty() => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_short_utc() {
        let t = Timestamp::parse_iso("2026-11-25T10:00:00.123Z").expect("valid");
        assert_eq!(time(t), "2026-11-25 10:00:00");
        assert_eq!(unix_seconds(t.unix_seconds()), "2026-11-25 10:00:00");
        assert_eq!(epoch_millis(t.millis()), "2026-11-25 10:00:00");
    }

    #[test]
    fn empty_json_is_blank() {
        assert_eq!(compact(&serde_json::json!({})), "");
        assert_eq!(compact(&serde_json::json!({"a": 1})), r#"{"a":1}"#);
    }
}

//! Millisecond-precision UTC timestamps.
//!
//! Stored as integer milliseconds since the Unix epoch (so SQL can compare and index them), written on the wire
//! as ISO-8601 with exactly three fractional digits (`2026-11-25T10:00:00.123Z`), as the reference API does.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Milliseconds since the Unix epoch, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

const ISO_MS: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");

impl Timestamp {
    pub fn from_millis(ms: i64) -> Self {
        Self(ms)
    }

    pub fn millis(self) -> i64 {
        self.0
    }

    /// Whole seconds since the epoch (the API-key list reports times this way, as the reference did).
    pub fn unix_seconds(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// Parses an RFC 3339 timestamp (`2026-11-25T10:00:00Z`, with any offset and precision).
    pub fn parse_iso(text: &str) -> Option<Self> {
        let dt = OffsetDateTime::parse(text, &Rfc3339).ok()?;
        i64::try_from(dt.unix_timestamp_nanos() / 1_000_000).ok().map(Self)
    }

    /// Parses an RFC 3339 timestamp, or a bare date (`2026-11-25`) as the start of that UTC day.
    pub fn parse_iso_or_date(text: &str) -> Option<Self> {
        Self::parse_iso(text).or_else(|| {
            let is_date = text.len() == 10 && text.as_bytes()[4] == b'-' && text.as_bytes()[7] == b'-';
            if is_date { Self::parse_iso(&format!("{text}T00:00:00Z")) } else { None }
        })
    }

    /// `YYYY-MM-DDTHH:MM:SS.mmmZ`. Formatted by hand, since every response carries several timestamps; years
    /// outside 0..=9999 go through the `time` crate.
    pub fn to_iso(self) -> String {
        let (year, month, day) = civil_from_days(self.0.div_euclid(86_400_000));
        if !(0..=9999).contains(&year) {
            let nanos = i128::from(self.0) * 1_000_000;
            return match OffsetDateTime::from_unix_timestamp_nanos(nanos) {
                Ok(dt) => dt.format(ISO_MS).unwrap_or_default(),
                Err(_) => String::new(),
            };
        }
        let ms_of_day = self.0.rem_euclid(86_400_000);
        let mut text = *b"0000-00-00T00:00:00.000Z";
        for (range, value) in [
            (0..4, year),
            (5..7, month),
            (8..10, day),
            (11..13, ms_of_day / 3_600_000),
            (14..16, ms_of_day / 60_000 % 60),
            (17..19, ms_of_day / 1000 % 60),
            (20..23, ms_of_day % 1000),
        ] {
            let mut n = value;
            for digit in text[range].iter_mut().rev() {
                *digit = b'0' + (n % 10) as u8;
                n /= 10;
            }
        }
        String::from_utf8_lossy(&text).into_owned()
    }

    pub fn add_millis(self, ms: i64) -> Self {
        Self(self.0.saturating_add(ms))
    }

    /// The UTC calendar day of this instant, as days since 1970-01-01 (key usage is counted per such day).
    pub fn utc_day(self) -> i64 {
        self.0.div_euclid(86_400_000)
    }
}

/// `YYYY-MM-DD` of a day number from [`Timestamp::utc_day`].
pub fn format_day(day: i64) -> String {
    let (year, month, day) = civil_from_days(day);
    format!("{year:04}-{month:02}-{day:02}")
}

/// (year, month, day) of a day count since 1970-01-01, proleptic Gregorian (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_iso())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_iso())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse_iso(&text).ok_or_else(|| serde::de::Error::custom("expected an ISO-8601 timestamp"))
    }
}

/// On the wire a timestamp is an ISO-8601 string (`2026-01-02T03:04:05.678Z`).
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Timestamp {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
            .examples([serde_json::json!("2026-01-02T03:04:05.678Z")])
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Timestamp {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_round_trip_keeps_milliseconds() {
        let t = Timestamp::parse_iso("2026-11-25T10:00:00.123Z").expect("valid");
        assert_eq!(t.to_iso(), "2026-11-25T10:00:00.123Z");
        assert_eq!(Timestamp::parse_iso(&t.to_iso()), Some(t));
    }

    #[test]
    fn hand_formatting_agrees_with_the_time_crate() {
        // Every day from 1900 to 2400 at a varying time of day, plus the edges.
        let mut ms = -2_208_988_800_000_i64;
        while ms < 13_569_465_600_000 {
            let t = Timestamp(ms);
            let expected = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
                .expect("in range")
                .format(ISO_MS)
                .expect("formats");
            assert_eq!(t.to_iso(), expected, "{ms}");
            ms += 86_400_000 + 3_723_457;
        }
        assert_eq!(Timestamp(0).to_iso(), "1970-01-01T00:00:00.000Z");
        assert_eq!(Timestamp(-1).to_iso(), "1969-12-31T23:59:59.999Z");
        assert_eq!(Timestamp(253_402_300_799_999).to_iso(), "9999-12-31T23:59:59.999Z");
    }

    #[test]
    fn offsets_are_normalised_to_utc() {
        let t = Timestamp::parse_iso("2026-11-25T12:00:00+02:00").expect("valid");
        assert_eq!(t.to_iso(), "2026-11-25T10:00:00.000Z");
    }

    #[test]
    fn dates_mean_the_start_of_the_utc_day() {
        assert_eq!(
            Timestamp::parse_iso_or_date("2026-11-25").map(Timestamp::to_iso).as_deref(),
            Some("2026-11-25T00:00:00.000Z")
        );
        assert_eq!(Timestamp::parse_iso_or_date("2026-13-25"), None);
        assert_eq!(Timestamp::parse_iso_or_date("20261125"), None);
    }

    #[test]
    fn days_are_utc_calendar_days() {
        let t = Timestamp::parse_iso("2026-11-25T23:59:59.999Z").expect("valid");
        assert_eq!(format_day(t.utc_day()), "2026-11-25");
        assert_eq!(format_day(t.add_millis(1).utc_day()), "2026-11-26");
        assert_eq!(format_day(Timestamp(-1).utc_day()), "1969-12-31");
        assert_eq!(format_day(0), "1970-01-01");
    }

    #[test]
    fn garbage_is_rejected() {
        assert_eq!(Timestamp::parse_iso("tomorrow"), None);
        assert_eq!(Timestamp::parse_iso(""), None);
    }
}

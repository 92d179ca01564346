//! Audit timestamps: the formats Fledge writes, read as UTC instants, written back as ISO 8601.

use jiff::{Timestamp, civil, tz::TimeZone};
use serde_json::Value;

/// Longest timestamp text worth parsing; anything longer is rejected unread.
const MAX_TIMESTAMP_CHARS: usize = 64;

/// `2026-11-21T09:15:42.317Z`: UTC, millisecond precision (truncated, never rounded up, so
/// an audit is never dated after it happened).
pub fn format_timestamp(timestamp: Timestamp) -> String {
    let millis = timestamp.as_millisecond();
    // as_millisecond truncates toward zero; step back for instants before 1970 with a
    // sub-millisecond remainder so the result is always a floor.
    let floor = if timestamp.as_microsecond() < millis * 1000 {
        millis - 1
    } else {
        millis
    };
    let timestamp = Timestamp::from_millisecond(floor).unwrap_or(timestamp);
    let dt = TimeZone::UTC.to_datetime(timestamp);
    let millis = dt.subsec_nanosecond() / 1_000_000;
    let Some(year) = u32::try_from(dt.year()).ok().filter(|year| *year <= 9999) else {
        // Outside what audits carry (parse_timestamp keeps years in 1..=9999).
        return format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{millis:03}Z",
            dt.year(),
            dt.month(),
            dt.day(),
            dt.hour(),
            dt.minute(),
            dt.second(),
        );
    };
    // Digits written directly: this runs once per audit, and the formatting machinery
    // costs several times the rest of the conversion.
    let mut text = String::with_capacity(24);
    fn push(text: &mut String, value: u32, width: u32) {
        for position in (0..width).rev() {
            let digit = value / 10u32.pow(position) % 10;
            text.push(char::from(b'0' + digit as u8));
        }
    }
    push(&mut text, year, 4);
    let fields = [
        ('-', dt.month()),
        ('-', dt.day()),
        ('T', dt.hour()),
        (':', dt.minute()),
        (':', dt.second()),
    ];
    for (separator, value) in fields {
        text.push(separator);
        push(&mut text, u32::from(value.unsigned_abs()), 2);
    }
    text.push('.');
    push(&mut text, millis.unsigned_abs(), 3);
    text.push('Z');
    text
}

/// Reads a timestamp from an audit field. Accepted:
/// - text without a zone, `YYYY-MM-DD HH:MM:SS[.fff…]` (Fledge REST and storage; UTC);
/// - text with `Z` or a numeric offset, `T` or space between date and time
///   (notification reason `… .ffffff+00:00`, ISO 8601);
/// - a number: seconds since the Unix epoch (notification `timestamp_CODE`).
///
/// The error is the reason, for the caller to place in its message.
pub fn parse_timestamp(value: &Value) -> Result<Timestamp, String> {
    match value {
        Value::String(text) => parse_timestamp_text(text),
        Value::Number(number) => match number.as_f64() {
            Some(seconds) => from_epoch_seconds(seconds),
            None => Err("the number is out of range".to_owned()),
        },
        _ => Err("expected text or seconds since the Unix epoch".to_owned()),
    }
}

/// [`parse_timestamp`] of a text.
pub fn parse_timestamp_text(text: &str) -> Result<Timestamp, String> {
    const EXPECTED: &str =
        "expected YYYY-MM-DD HH:MM:SS[.fff] (UTC) or ISO 8601 with Z or an offset";
    if text.chars().count() > MAX_TIMESTAMP_CHARS {
        return Err(format!("longer than {MAX_TIMESTAMP_CHARS} characters"));
    }
    // Fledge's own format has no zone; try it first, as it is the common one.
    if let Some(timestamp) = fledge_format(text) {
        return check_year(timestamp);
    }
    let timestamp = if let Ok(civil) = text.parse::<civil::DateTime>()
        && !has_zone(text)
    {
        // A bare date would silently mean midnight; an audit always has a time of day.
        if !text.contains(':') {
            return Err(format!("no time of day; {EXPECTED}"));
        }
        TimeZone::UTC
            .to_timestamp(civil)
            .map_err(|e| format!("out of range: {e}"))?
    } else {
        text.parse::<Timestamp>().map_err(|_| EXPECTED.to_owned())?
    };
    check_year(timestamp)
}

/// Fledge's `YYYY-MM-DD HH:MM:SS.mmm` (UTC) read directly, the form nearly every audit
/// has; anything else (or any doubt) falls back to the general parsers.
fn fledge_format(text: &str) -> Option<Timestamp> {
    let bytes = text.as_bytes();
    if bytes.len() < 19
        || bytes.len() > 29
        || bytes[4] != b'-'
        || bytes[7] != b'-'
        || bytes[10] != b' '
        || bytes[13] != b':'
        || bytes[16] != b':'
    {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<i32> {
        let digits = bytes.get(range)?;
        digits.iter().try_fold(0i32, |n, b| {
            b.is_ascii_digit().then(|| n * 10 + i32::from(b - b'0'))
        })
    };
    let nanos = match bytes.get(19) {
        None => 0,
        Some(b'.') if bytes.len() > 20 => {
            let fraction = &bytes[20..];
            if !fraction.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let digits = number(20..bytes.len())?;
            digits * 10i32.pow(9 - u32::try_from(fraction.len()).ok()?)
        }
        Some(_) => return None,
    };
    let civil = civil::DateTime::new(
        i16::try_from(number(0..4)?).ok()?,
        i8::try_from(number(5..7)?).ok()?,
        i8::try_from(number(8..10)?).ok()?,
        i8::try_from(number(11..13)?).ok()?,
        i8::try_from(number(14..16)?).ok()?,
        i8::try_from(number(17..19)?).ok()?,
        nanos,
    )
    .ok()?;
    TimeZone::UTC.to_timestamp(civil).ok()
}

/// A timestamp text written without a zone (as Fledge writes them), read as a time in `zone`
/// and written back as UTC ISO 8601 with its full precision. `None` for a text that has a zone
/// or is not a date and time: left as it is, for the decoder to accept or name.
pub fn zoneless_to_utc(text: &str, zone: &TimeZone) -> Option<String> {
    if text.chars().count() > MAX_TIMESTAMP_CHARS || has_zone(text) || !text.contains(':') {
        return None;
    }
    let civil = text.parse::<civil::DateTime>().ok()?;
    // A local time that happens twice (clocks going back) or never (going forward) is taken
    // as the earlier instant, the same as most systems do.
    let timestamp = zone.to_ambiguous_timestamp(civil).compatible().ok()?;
    Some(timestamp.to_string())
}

/// Whether the text ends with a zone designator (`Z`, `+hh:mm`, `-hh:mm`) after its time.
fn has_zone(text: &str) -> bool {
    let time = text.get(11..).unwrap_or("");
    time.ends_with(['Z', 'z']) || time.contains(['+', '-'])
}

fn from_epoch_seconds(seconds: f64) -> Result<Timestamp, String> {
    if !seconds.is_finite() {
        return Err("not a finite number of seconds".to_owned());
    }
    // Round to microseconds first: epoch floats like 1795252542.318204 are not exact in
    // binary, and truncating straight to milliseconds could lose one.
    let micros = (seconds * 1_000_000.0).round();
    if micros.abs() > i64::MAX as f64 / 2.0 {
        return Err("out of range".to_owned());
    }
    let timestamp =
        Timestamp::from_microsecond(micros as i64).map_err(|e| format!("out of range: {e}"))?;
    check_year(timestamp)
}

/// ISO 8601 without extensions needs a four-digit year.
fn check_year(timestamp: Timestamp) -> Result<Timestamp, String> {
    let year = timestamp.to_zoned(TimeZone::UTC).year();
    if (1..=9999).contains(&year) {
        Ok(timestamp)
    } else {
        Err(format!("year {year} is outside 0001..9999"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn iso(value: Value) -> Result<String, String> {
        parse_timestamp(&value).map(format_timestamp)
    }

    #[test]
    fn rest_timestamp_without_zone_is_utc() {
        assert_eq!(
            iso(json!("2026-11-21 09:15:42.317")).as_deref(),
            Ok("2026-11-21T09:15:42.317Z")
        );
        assert_eq!(
            iso(json!("2026-11-21 09:15:42")).as_deref(),
            Ok("2026-11-21T09:15:42.000Z")
        );
        assert_eq!(
            iso(json!("2026-11-21T09:15:42.3179")).as_deref(),
            Ok("2026-11-21T09:15:42.317Z")
        );
    }

    #[test]
    fn offsets_are_honoured() {
        assert_eq!(
            iso(json!("2026-11-21 09:15:42.318204+00:00")).as_deref(),
            Ok("2026-11-21T09:15:42.318Z")
        );
        assert_eq!(
            iso(json!("2026-11-21T10:15:42.5+01:00")).as_deref(),
            Ok("2026-11-21T09:15:42.500Z")
        );
        assert_eq!(
            iso(json!("2026-11-21T09:15:42.317Z")).as_deref(),
            Ok("2026-11-21T09:15:42.317Z")
        );
    }

    #[test]
    fn epoch_seconds() {
        assert_eq!(
            iso(json!(1795252542.318204)).as_deref(),
            Ok("2026-11-21T09:15:42.318Z")
        );
        assert_eq!(
            iso(json!(1795252542)).as_deref(),
            Ok("2026-11-21T09:15:42.000Z")
        );
        // 0.317 is 0.31699999… in binary: must not become .316.
        assert_eq!(
            iso(json!(1795252542.317)).as_deref(),
            Ok("2026-11-21T09:15:42.317Z")
        );
        assert_eq!(
            iso(json!(-0.0005)).as_deref(),
            Ok("1969-12-31T23:59:59.999Z")
        );
    }

    #[test]
    fn zoneless_text_is_read_in_the_given_zone() {
        let plus_two = TimeZone::fixed(jiff::tz::offset(2));
        assert_eq!(
            zoneless_to_utc("2026-11-21 11:15:42.317204", &plus_two).as_deref(),
            Some("2026-11-21T09:15:42.317204Z")
        );
        assert_eq!(
            zoneless_to_utc("2026-11-21 09:15:42", &TimeZone::UTC).as_deref(),
            Some("2026-11-21T09:15:42Z")
        );
        for kept in [
            "2026-11-21T10:15:42+01:00",
            "2026-11-21 09:15:42Z",
            "yesterday",
            "2026-11-21",
        ] {
            assert_eq!(zoneless_to_utc(kept, &plus_two), None, "{kept}");
        }
    }

    #[test]
    fn rejects_what_is_not_a_date_and_time() {
        for bad in [
            json!("yesterday"),
            json!("2026-11-21"),
            json!("2026-13-01 00:00:00"),
            json!("2026-11-21 25:00:00"),
            json!(""),
            json!(true),
            json!(null),
            json!(1e300),
            json!(-1e300),
            json!("x".repeat(100)),
        ] {
            assert!(iso(bad.clone()).is_err(), "{bad} was accepted");
        }
    }
}

#[cfg(test)]
mod fast_path_tests {
    use super::*;

    #[test]
    fn format_timestamp_agrees_with_strftime() {
        for seconds in [
            -62_135_596_800, // 0001-01-01
            -1,
            0,
            951_782_400, // 2000-02-29
            1_795_338_942,
            253_402_207_199, // 9999-12-30T22:59:59, near the end of what jiff represents
        ] {
            for nanos in [0, 1, 999_999, 1_000_000, 317_000_000, 999_999_999] {
                let timestamp = Timestamp::new(seconds, nanos).unwrap();
                let floor = Timestamp::from_millisecond(
                    timestamp
                        .as_millisecond()
                        .min(timestamp.as_microsecond().div_euclid(1000)),
                )
                .unwrap();
                let expected = floor.strftime("%Y-%m-%dT%H:%M:%S.%3fZ").to_string();
                assert_eq!(format_timestamp(timestamp), expected, "{seconds}.{nanos}");
            }
        }
    }

    #[test]
    fn fledge_format_agrees_with_the_general_parser() {
        for text in [
            "2026-11-21 09:15:42.317",
            "2026-11-21 09:15:42",
            "2026-11-21 09:15:42.1",
            "2026-11-21 09:15:42.318204",
            "2026-11-21 09:15:42.123456789",
            "1999-12-31 23:59:59.999",
        ] {
            let general = TimeZone::UTC
                .to_timestamp(text.parse::<civil::DateTime>().unwrap())
                .unwrap();
            assert_eq!(fledge_format(text), Some(general), "{text}");
        }
        for text in [
            "2026-11-21T09:15:42.317",
            "2026-13-21 09:15:42",
            "2026-11-21 24:15:42",
            "2026-11-21 09:15:42.",
            "2026-11-21 09:15:42.31x",
            "2026-11-21 09:15:42+01:00",
            "yesterday",
        ] {
            assert_eq!(fledge_format(text), None, "{text}");
        }
    }
}

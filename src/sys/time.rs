//! The clock and the one way times are written and read: RFC 3339 in UTC, as Docker and the
//! image specification write them (`2026-11-30T20:27:20Z`, with nanoseconds in logs).

use std::time::{SystemTime, UNIX_EPOCH};

/// A point in time: nanoseconds since the Unix epoch.
pub type Nanos = i128;

const NANOS: i128 = 1_000_000_000;

/// Seconds since the Unix epoch (0 if the clock is before it).
pub fn now() -> i64 {
    (now_nanos() / NANOS) as i64
}

/// Nanoseconds since the Unix epoch (0 if the clock is before it).
pub fn now_nanos() -> Nanos {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as Nanos)
        .unwrap_or(0)
}

/// `2023-11-14T22:13:20Z`.
pub fn rfc3339(secs: i64) -> String {
    let (date, time) = civil(secs);
    format!("{date}T{time}Z")
}

/// `2023-11-14T22:13:20.000000042Z`: always nine digits, so the texts sort as the times do.
pub fn rfc3339_nanos(t: Nanos) -> String {
    let secs = t.div_euclid(NANOS) as i64;
    let frac = t.rem_euclid(NANOS);
    let (date, time) = civil(secs);
    format!("{date}T{time}.{frac:09}Z")
}

/// The date and the time of day of `secs` (UTC), each as text.
fn civil(secs: i64) -> (String, String) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    (
        format!("{y:04}-{m:02}-{d:02}"),
        format!("{:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60),
    )
}

/// Days since the epoch of a civil date (the inverse of `civil`'s date).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Reads an RFC 3339 time: `2026-11-30T20:27:20Z`, with an optional fraction and a `Z` or
/// `±HH:MM` offset; a date alone (`2026-11-30`) is its midnight in UTC.
pub fn parse_rfc3339(text: &str) -> Option<Nanos> {
    let t = text.trim();
    let num = |s: &str| -> Option<i64> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let (date, rest) = match t.find(['T', 't', ' ']) {
        Some(i) => (&t[..i], Some(&t[i + 1..])),
        None => (t, None),
    };
    let mut parts = date.splitn(3, '-');
    let (y, m, d) = (
        num(parts.next()?)?,
        num(parts.next()?)?,
        num(parts.next()?)?,
    );
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let days = days_from_civil(y, m, d);
    let Some(rest) = rest else {
        return Some(days as Nanos * 86_400 * NANOS);
    };
    // The offset: Z, or the last + or - (the date's dashes are gone).
    let (clock, offset) = if let Some(c) = rest.strip_suffix(['Z', 'z']) {
        (c, 0)
    } else {
        let i = rest.rfind(['+', '-'])?;
        let sign = if rest.as_bytes()[i] == b'-' { -1 } else { 1 };
        let (oh, om) = rest[i + 1..].split_once(':')?;
        (&rest[..i], sign * (num(oh)? * 3600 + num(om)? * 60))
    };
    let (hms, frac) = match clock.split_once(['.', ',']) {
        Some((hms, f)) => (hms, f),
        None => (clock, ""),
    };
    let mut hms = hms.splitn(3, ':');
    let (h, mi, s) = (num(hms.next()?)?, num(hms.next()?)?, num(hms.next()?)?);
    if h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let nanos = if frac.is_empty() {
        0
    } else {
        let digits = num(&frac[..frac.len().min(9)])?;
        digits as i128 * 10i128.pow(9 - frac.len().min(9) as u32)
    };
    let secs = days * 86_400 + h * 3600 + mi * 60 + s - offset;
    Some(secs as Nanos * NANOS + nanos)
}

/// A time as Docker's `--since`/`--until` take it: RFC 3339, Unix seconds (`1700000000` or
/// `1700000000.5`), or a duration before now (`10m`, `1h30m`, `45s`).
pub fn parse_point(text: &str, now: Nanos) -> Option<Nanos> {
    let t = text.trim();
    if let Some(n) = parse_rfc3339(t) {
        return Some(n);
    }
    if let Some(n) = parse_seconds(t) {
        return Some(n);
    }
    parse_go_duration(t).map(|d| now - d)
}

/// Unix seconds with up to nine decimals, read exactly: `1700000000.25`.
fn parse_seconds(text: &str) -> Option<Nanos> {
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(frac) || frac.len() > 9 {
        return None;
    }
    let secs: Nanos = whole.parse().ok()?;
    let frac: Nanos = format!("{frac:0<9}").parse().ok()?;
    Some(secs * NANOS + frac)
}

/// A Go-style duration: `1h30m`, `10m`, `45s`, `500ms`, `2h`.
fn parse_go_duration(text: &str) -> Option<Nanos> {
    let mut total: Nanos = 0;
    let mut rest = text;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(rest.len());
        let value: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale: f64 = match &rest[..unit_len] {
            "h" => 3600e9,
            "m" => 60e9,
            "s" => 1e9,
            "ms" => 1e6,
            "us" | "µs" => 1e3,
            "ns" => 1.0,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += (value * scale) as Nanos;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_rfc3339() {
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(
            rfc3339_nanos(1_700_000_000 * NANOS + 42),
            "2023-11-14T22:13:20.000000042Z"
        );
    }

    #[test]
    fn rfc3339_reads_back_what_it_writes() {
        for secs in [0, 951_782_400, 1_700_000_000, 4_102_444_800] {
            assert_eq!(parse_rfc3339(&rfc3339(secs)), Some(secs as Nanos * NANOS));
            let t = secs as Nanos * NANOS + 123_456_789;
            assert_eq!(parse_rfc3339(&rfc3339_nanos(t)), Some(t));
        }
        assert_eq!(
            parse_rfc3339("2023-11-14T23:13:20.5+01:00"),
            Some(1_700_000_000 * NANOS + 500_000_000)
        );
        assert_eq!(parse_rfc3339("2023-11-14"), Some(1_699_920_000 * NANOS));
        for bad in [
            "",
            "yesterday",
            "2023-13-01",
            "2023-11-14T25:00:00Z",
            "2023-11-14T10:00",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn points_are_times_epochs_or_durations_before_now() {
        let now = 1_700_000_000 * NANOS;
        assert_eq!(parse_point("10m", now), Some(now - 600 * NANOS));
        assert_eq!(parse_point("1h30m", now), Some(now - 5400 * NANOS));
        assert_eq!(parse_point("1700000000", now), Some(now));
        assert_eq!(parse_point("1700000000.25", now), Some(now + 250_000_000));
        assert_eq!(parse_point("2023-11-14T22:13:20Z", now), Some(now));
        assert_eq!(parse_point("10 minutes", now), None);
        assert_eq!(parse_point("-5", now), None);
    }
}

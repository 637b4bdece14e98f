//! Unix seconds and UTC calendar dates without a date crate: enough for "expires 2027-11-26
//! (365 days left)", the RFC 3339 timestamps in synthesized CLI session files, and reading
//! the reset times the CLI reports in that form.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds per day.
pub const DAY: i64 = 86_400;

/// Now, in Unix seconds (0 if the clock is before 1970).
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// `YYYY-MM-DD` (UTC) of a Unix time.
pub fn date(unix: i64) -> String {
    let (y, m, d) = civil_from_days(unix.div_euclid(DAY));
    format!("{y:04}-{m:02}-{d:02}")
}

/// `YYYY-MM-DD` in this host's local time.
pub fn local_date(unix: i64) -> String {
    date(unix + local_offset(unix))
}

/// `YYYY-MM-DD HH:MM UTC` of a Unix time.
pub fn date_time(unix: i64) -> String {
    let secs = unix.rem_euclid(DAY);
    format!(
        "{} {:02}:{:02} UTC",
        date(unix),
        secs / 3600,
        (secs % 3600) / 60
    )
}

/// The offset of local time from UTC at `unix`, in seconds (the C library's time zone
/// rules: `TZ`, /etc/localtime); 0 when unknown.
pub fn local_offset(unix: i64) -> i64 {
    // time_t is 64 bits on every platform the daemon supports.
    let t = unix as libc::time_t;
    // SAFETY: localtime_r reads `t` and writes only into the `tm` we own.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return 0;
        }
        tm.tm_gmtoff as i64
    }
}

/// `YYYY-MM-DD HH:MM` in this host's local time, with the UTC offset (`+01:00`).
pub fn local_date_time(unix: i64) -> String {
    let offset = local_offset(unix);
    let local = unix + offset;
    let secs = local.rem_euclid(DAY);
    let sign = if offset < 0 { '-' } else { '+' };
    format!(
        "{} {:02}:{:02} {sign}{:02}:{:02}",
        date(local),
        secs / 3600,
        (secs % 3600) / 60,
        offset.abs() / 3600,
        (offset.abs() % 3600) / 60
    )
}

/// A coming moment in UTC and how far off it is: `2026-12-03 18:50 UTC (in 1 h 12 min)`.
pub fn moment(at: i64, now: i64) -> String {
    format!("{} (in {})", date_time(at), span(at - now))
}

/// A moment in local time and how far off it is, or that it has passed:
/// `2026-12-03 19:50 +01:00 (in 1 h 12 min)` / `… (passed)`.
pub fn local_moment(at: i64, now: i64) -> String {
    if at > now {
        format!("{} (in {})", local_date_time(at), span(at - now))
    } else {
        format!("{} (passed)", local_date_time(at))
    }
}

/// `HH:MM:SS` in this host's local time.
pub fn local_time_of_day(unix: i64) -> String {
    let secs = (unix + local_offset(unix)).rem_euclid(DAY);
    format!(
        "{:02}:{:02}:{:02}",
        secs / 3600,
        (secs % 3600) / 60,
        secs % 60
    )
}

/// A duration in words: `45 s`, `12 min`, `3 h 5 min`, `2 d 4 h`.
pub fn span(secs: i64) -> String {
    let secs = secs.max(0);
    match secs {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min", s / 60),
        s if s < DAY => format!("{} h {} min", s / 3600, (s % 3600) / 60),
        s => format!("{} d {} h", s / DAY, (s % DAY) / 3600),
    }
}

/// Now as `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC), the form the CLI stamps on session rows.
pub fn timestamp_now() -> String {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let unix = i64::try_from(since.as_secs()).unwrap_or(i64::MAX);
    let secs = unix.rem_euclid(DAY);
    format!(
        "{}T{:02}:{:02}:{:02}.{:03}Z",
        date(unix),
        secs / 3600,
        (secs % 3600) / 60,
        secs % 60,
        since.subsec_millis()
    )
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
/// Unix seconds of an RFC 3339 / ISO 8601 time as Anthropic's endpoints write it:
/// `2026-12-04T21:02:44+00:00`, `2026-12-04T21:02:44.123456Z`, `… -05:30`. Fractions are
/// dropped; anything else (a bare date, a missing offset, out-of-range fields) is `None`.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let text = text.trim();
    let (date_part, rest) = text.split_once(['T', 't', ' '])?;
    let mut ymd = date_part.splitn(3, '-');
    let year: i64 = ymd.next()?.parse().ok()?;
    let month: u32 = ymd.next()?.parse().ok()?;
    let day: u32 = ymd.next()?.parse().ok()?;
    let offset_at = rest.rfind(['Z', 'z', '+', '-']).filter(|at| *at >= 8)?;
    let (time_part, zone) = rest.split_at(offset_at);
    let offset = match zone {
        "Z" | "z" => 0,
        _ => {
            let sign = if zone.starts_with('-') { -1 } else { 1 };
            let (h, m) = zone[1..].split_once(':')?;
            let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
            if h > 23 || m > 59 {
                return None;
            }
            sign * (h * 3600 + m * 60)
        }
    };
    let time_part = time_part.split('.').next()?;
    let mut hms = time_part.splitn(3, ':');
    let hour: i64 = hms.next()?.parse().ok()?;
    let minute: i64 = hms.next()?.parse().ok()?;
    let second: i64 = hms.next()?.parse().ok()?;
    let valid = (1..=12).contains(&month)
        && (1..=31).contains(&day)
        && hour < 24
        && minute < 60
        && second <= 60;
    if !valid {
        return None;
    }
    Some(days_from_civil(year, month, day) * DAY + hour * 3600 + minute * 60 + second - offset)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let month = i64::from(month);
    let doy = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_times_parse_with_any_offset() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339("2026-12-31T23:59:59+00:00"),
            Some(1_798_761_599)
        );
        assert_eq!(
            parse_rfc3339("2000-02-29T00:00:00.123456Z"),
            Some(951_782_400)
        );
        assert_eq!(
            parse_rfc3339("2026-12-31T23:59:59-01:30"),
            Some(1_798_761_599 + 5_400)
        );
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59Z"), Some(-1));
        for bad in [
            "",
            "2026-12-31",
            "2026-12-31T23:59:59",
            "2026-13-01T00:00:00Z",
            "soon",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn known_dates() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(951_782_400), "2000-02-29");
        assert_eq!(date(1_798_761_599), "2026-12-31");
        assert_eq!(date_time(1_798_761_599), "2026-12-31 23:59 UTC");
        assert_eq!(date(-1), "1969-12-31");
    }

    #[test]
    fn timestamp_is_rfc3339_utc_with_millis() {
        let ts = timestamp_now();
        assert_eq!(ts.len(), 24, "{ts}");
        assert!(ts.ends_with('Z') && ts.as_bytes()[10] == b'T', "{ts}");
        assert!(ts.starts_with(&date(now())), "{ts}");
    }
}

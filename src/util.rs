//! Small helpers without a better home.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Current UTC time as RFC 3339 with seconds, e.g. `2026-11-29T06:30:00Z`.
pub(crate) fn now_rfc3339() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    rfc3339(secs)
}

/// Seconds since the epoch as RFC 3339 UTC.
pub(crate) fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil-from-days (Howard Hinnant's algorithm): exact for the proleptic Gregorian calendar.
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
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// `at + d`, or the latest instant this platform can represent near it when `d` is absurdly
/// large (a timeout from the server or the config): `Instant + Duration` panics on overflow.
pub(crate) fn instant_after(at: Instant, d: Duration) -> Instant {
    at.checked_add(d)
        .or_else(|| at.checked_add(Duration::from_secs(u64::from(u32::MAX))))
        .unwrap_or(at)
}

/// The host program's name (for the approvers' metadata and the progress line).
pub(crate) fn process_name() -> String {
    std::fs::read_to_string("/proc/self/comm")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "pkcs11-application".into())
}

/// Copy `s` into a fixed-size, blank-padded PKCS#11 text field.
pub(crate) fn pad(s: &str, out: &mut [u8]) {
    out.fill(b' ');
    let mut n = 0;
    for ch in s.chars() {
        let mut buf = [0u8; 4];
        let enc = ch.encode_utf8(&mut buf);
        if n + enc.len() > out.len() {
            break;
        }
        out[n..n + enc.len()].copy_from_slice(enc.as_bytes());
        n += enc.len();
    }
}

/// A label for a log line: at most 64 characters, with its length when cut.
pub(crate) fn short(label: &str) -> String {
    match label.char_indices().nth(64) {
        Some((i, _)) => format!("{}... ({} bytes)", &label[..i], label.len()),
        None => label.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_known_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_706_009_232), "2024-01-23T11:27:12Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn instant_after_saturates() {
        let now = Instant::now();
        assert_eq!(
            instant_after(now, Duration::from_secs(1)),
            now + Duration::from_secs(1)
        );
        assert!(instant_after(now, Duration::MAX) > now + Duration::from_secs(3600 * 24 * 365));
    }

    #[test]
    fn pad_never_splits_utf8() {
        let mut b = [0u8; 5];
        pad("abcdé", &mut b);
        assert_eq!(&b, b"abcd ");
        pad("ab", &mut b);
        assert_eq!(&b, b"ab   ");
    }

    #[test]
    fn short_labels_for_logs() {
        assert_eq!(short("abc"), "abc");
        let long = "é".repeat(100);
        assert_eq!(short(&long), format!("{}... (200 bytes)", "é".repeat(64)));
    }
}

//! Durations as people write them: `30m`, `12h`, `7d` (drop expiry, the
//! server's `max_expires`, `sxfer audit --since`).

use anyhow::{bail, Context, Result};

/// A duration `N` followed by `s`, `m`, `h` or `d` (`30m`, `12h`, `7d`),
/// in seconds: at least 1 s, at most what a DropPut carries (a `u32`).
pub fn parse_duration(text: &str) -> Result<u64> {
    let bad = || format!("bad duration {text:?} (e.g. 30m, 12h, 7d)");
    let (digits, unit) = match text.char_indices().last() {
        Some((i, 's')) => (&text[..i], 1),
        Some((i, 'm')) => (&text[..i], 60),
        Some((i, 'h')) => (&text[..i], 3600),
        Some((i, 'd')) => (&text[..i], 86_400),
        _ => bail!(bad()),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        bail!(bad());
    }
    let seconds = digits.parse::<u64>().ok().and_then(|n| n.checked_mul(unit)).with_context(bad)?;
    if seconds == 0 || seconds > u64::from(u32::MAX) {
        bail!("duration {text:?} is out of range (1s to {}d)", u64::from(u32::MAX) / 86_400);
    }
    Ok(seconds)
}

/// Seconds in the largest unit that divides them exactly (`30d`, `90m`).
pub fn format_duration(seconds: u64) -> String {
    match [(86_400, 'd'), (3600, 'h'), (60, 'm')].into_iter().find(|(unit, _)| seconds > 0 && seconds % unit == 0) {
        Some((unit, suffix)) => format!("{}{suffix}", seconds / unit),
        None => format!("{seconds}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_print_back() {
        for (text, seconds) in [("30m", 1800), ("12h", 43_200), ("7d", 604_800), ("5s", 5)] {
            assert_eq!(parse_duration(text).unwrap(), seconds);
            assert_eq!(format_duration(seconds), text);
        }
        for bad in ["", "7", "d", "0d", "-1d", "1.5h", "7D", "99999999999d", " 7d"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }
}

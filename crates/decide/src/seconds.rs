//! `RAMPART_REFRESH_SECS`: seconds with an optional decimal part, read by
//! hand (float parsing would add its tables to every process that maps the
//! library).

/// `"1"`, `"2.5"`, `".25"` seconds as milliseconds; digits after the third
/// decimal are ignored. `None` for anything else (signs, exponents, spaces
/// inside, overflow).
pub fn parse_millis(text: &str) -> Option<u64> {
    let text = text.trim();
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && frac.is_empty()) || !digits(whole) || !digits(frac) {
        return None;
    }
    let whole: u64 = if whole.is_empty() { 0 } else { whole.parse().ok()? };
    let frac = frac.bytes().take(3).zip([100, 10, 1]).map(|(b, scale)| u64::from(b - b'0') * scale).sum::<u64>();
    whole.checked_mul(1000)?.checked_add(frac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_and_decimals() {
        for (text, ms) in [("1", 1000), ("10", 10_000), ("2.5", 2500), ("0.25", 250), (".1", 100), ("3.", 3000)] {
            assert_eq!(parse_millis(text), Some(ms), "{text}");
        }
        assert_eq!(parse_millis(" 0.1234 "), Some(123));
        for bad in ["", ".", "-1", "+1", "1e3", "1.5.2", "ten", "1 0", "99999999999999999999"] {
            assert_eq!(parse_millis(bad), None, "{bad}");
        }
    }
}

//! Text → typed value, for every layer of the configuration.
//!
//! The environment layer, the command-line flags and the TOML file all read settings as text
//! at some point; they share these parsers so that `KONSUL_RAFT_ELECTION_TIMEOUT=1h30m`,
//! `election_timeout = "1h30m"` and the docs agree on one syntax. Each parser returns a
//! message that quotes the bad value and shows what a good one looks like; the caller prefixes
//! it with the name of the variable, flag or key, so the operator sees exactly what to fix.

use std::fmt::Write as _;
use std::time::Duration;

/// Nanoseconds per duration unit, in the spelling Go's `time.ParseDuration` accepts.
const UNITS: &[(&str, u128)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000), // U+00B5 micro sign
    ("μs", 1_000), // U+03BC Greek mu
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// Parses a Go-style duration: one or more `<number><unit>` parts, such as `500ms`, `1s`,
/// `1h30m` or `1.5s`; a bare `0` is zero. Negative values, missing units, spaces between parts
/// and the empty string are rejected, because a timeout that silently became zero or a
/// default would be worse than refusing to start.
pub(crate) fn duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("invalid duration {text:?} (examples: 500ms, 1s, 2m, 1h30m)");
    let text = text.trim();
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    if text.is_empty() {
        return Err(bad());
    }
    let mut rest = text;
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?; // a number with no unit after it
        let (number, after) = rest.split_at(number_end);
        let unit_end = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_end);
        let per_unit = UNITS
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|(_, nanos)| *nanos)
            .ok_or_else(bad)?;
        total = total
            .checked_add(scaled(number, per_unit).ok_or_else(bad)?)
            .ok_or_else(bad)?;
        rest = next;
    }
    let nanos = u64::try_from(total).map_err(|_| bad())?;
    Ok(Duration::from_nanos(nanos))
}

/// `number` (digits with an optional fraction) times `per_unit` nanoseconds, truncated to a
/// whole nanosecond; `None` when the number is malformed or the product overflows.
fn scaled(number: &str, per_unit: u128) -> Option<u128> {
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !all_digits(whole) || !all_digits(fraction) {
        return None;
    }
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    // Digits past the 18th are below a nanosecond for every unit up to hours; ignore them.
    let fraction = &fraction[..fraction.len().min(18)];
    let fraction_nanos = if fraction.is_empty() {
        0
    } else {
        let digits: u128 = fraction.parse().ok()?;
        digits * per_unit / 10u128.pow(fraction.len() as u32)
    };
    whole.checked_mul(per_unit)?.checked_add(fraction_nanos)
}

/// Formats a duration so that [`duration`] reads it back unchanged: `1h30m`, `1s500ms`, `0s`.
pub(crate) fn format_duration(d: Duration) -> String {
    if d.is_zero() {
        return "0s".to_string();
    }
    let secs = d.as_secs();
    let nanos = d.subsec_nanos();
    let parts = [
        (secs / 3600, "h"),
        (secs % 3600 / 60, "m"),
        (secs % 60, "s"),
        (u64::from(nanos / 1_000_000), "ms"),
        (u64::from(nanos / 1_000 % 1_000), "us"),
        (u64::from(nanos % 1_000), "ns"),
    ];
    let mut out = String::new();
    for (n, unit) in parts {
        if n > 0 {
            let _ = write!(out, "{n}{unit}");
        }
    }
    out
}

/// Parses a boolean: `true/false`, `1/0` or `yes/no`, in any letter case.
pub(crate) fn boolean(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(format!(
            "invalid boolean {text:?} (expected true/false, 1/0 or yes/no)"
        )),
    }
}

/// Parses a non-negative whole number (a count or a size in bytes).
pub(crate) fn number<T: std::str::FromStr>(text: &str) -> Result<T, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("invalid number {text:?} (expected a whole number such as 1024)"))
}

/// Parses a TCP port. Zero means "any free port" (the startup line reports the one chosen); signs,
/// letters and values above 65535 do not.
pub(crate) fn port(text: &str) -> Result<u16, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("invalid port {text:?} (expected a number from 0 to 65535)"))
}

/// Splits `KONSUL_RAFT_JOIN` on commas, trimming each item and dropping empty ones (so
/// `"a:1, b:2,"` is two items and `""` is none), except that an `exec:` entry runs to the end
/// of the text, commas included: cloud CLI filters (`Name=tag:x,Values=y`) need commas, so the
/// command goes last in the variable (a TOML array has no such limit).
pub(crate) fn join_list(text: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut rest = text;
    loop {
        if rest.trim_start().starts_with(super::EXEC_PREFIX) {
            items.push(rest.trim().to_string());
            return items;
        }
        let (item, tail) = match rest.split_once(',') {
            Some((item, tail)) => (item, Some(tail)),
            None => (rest, None),
        };
        let item = item.trim();
        if !item.is_empty() {
            items.push(item.to_string());
        }
        match tail {
            Some(tail) => rest = tail,
            None => return items,
        }
    }
}

/// Serde glue for durations written as strings (`"500ms"`) in the TOML file; used through
/// `#[serde(with = "parse::duration_serde")]`.
pub(crate) mod duration_serde {
    use std::fmt;
    use std::time::Duration;

    use serde::{Deserializer, Serializer, de};

    /// Writes the duration in the same syntax the parser reads.
    pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_duration(*d))
    }

    /// Reads a duration string; a number or any other type is an error that asks for a string.
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        struct Visitor;
        impl de::Visitor<'_> for Visitor {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration string such as \"500ms\", \"1s\" or \"1h30m\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
                super::duration(v).map_err(E::custom)
            }
        }
        d.deserialize_str(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_go_syntax_parse() {
        let ms = Duration::from_millis;
        for (text, want) in [
            ("500ms", ms(500)),
            ("1s", ms(1000)),
            ("2m", ms(120_000)),
            ("1h30m", ms(5_400_000)),
            ("1.5s", ms(1500)),
            (".5s", ms(500)),
            ("1m30s250ms", ms(90_250)),
            ("0", Duration::ZERO),
            ("0s", Duration::ZERO),
            (" 1s ", ms(1000)),
            ("10us", Duration::from_micros(10)),
            ("10µs", Duration::from_micros(10)),
            ("7ns", Duration::from_nanos(7)),
        ] {
            assert_eq!(duration(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn bad_durations_are_rejected_with_the_value_quoted() {
        for text in [
            "abc",
            "-1s",
            "",
            " ",
            "1",
            "s",
            "1 s",
            "1h 30m",
            "1.2.3s",
            "1d",
            "+1s",
            "1S",
            ".s",
            "99999999999999999999h",
        ] {
            let err = duration(text).expect_err(text);
            assert!(err.contains(&format!("{text:?}")), "{err}");
            assert!(err.contains("500ms"), "{err}");
        }
    }

    #[test]
    fn formatted_durations_parse_back() {
        for d in [
            Duration::ZERO,
            Duration::from_millis(500),
            Duration::from_secs(5400),
            Duration::from_nanos(3_600_000_001_001),
            Duration::from_millis(1500),
        ] {
            assert_eq!(duration(&format_duration(d)), Ok(d));
        }
        assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m");
        assert_eq!(format_duration(Duration::from_millis(50)), "50ms");
    }

    #[test]
    fn booleans_accept_three_spellings_in_any_case() {
        for t in ["true", "TRUE", "1", "yes", "Yes"] {
            assert_eq!(boolean(t), Ok(true), "{t}");
        }
        for f in ["false", "False", "0", "no", "NO"] {
            assert_eq!(boolean(f), Ok(false), "{f}");
        }
        for bad in ["", "on", "2", "y", "truee"] {
            assert!(boolean(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn numbers_ports_and_lists() {
        assert_eq!(number::<u64>("1024"), Ok(1024));
        assert!(number::<u64>("-1").is_err());
        assert!(number::<u64>("1k").is_err());
        assert_eq!(port("8888"), Ok(8888));
        assert!(port("65536").is_err());
        assert_eq!(join_list(" a:1, b:2 ,,"), vec!["a:1", "b:2"]);
        assert!(join_list("").is_empty());
        assert_eq!(
            join_list(
                "a:1, srv:_k._tcp.x ,exec:aws ec2 x --filters Name=a,Values=b | sed s/$/:1/ "
            ),
            vec![
                "a:1",
                "srv:_k._tcp.x",
                "exec:aws ec2 x --filters Name=a,Values=b | sed s/$/:1/"
            ]
        );
        assert_eq!(join_list(" exec:a,b"), vec!["exec:a,b"]);
    }
}

//! How the gateway writes values the REST contract gives in Go's or the web's formats:
//! RFC 3339 times, Go `time.Duration` strings, and stored bytes as text or base64. Every
//! route file uses these from here; none imports another route file for them.

use std::time::Duration;

use base64::Engine;

/// Formats a wall-clock time as RFC 3339 in UTC with second precision.
pub fn rfc3339(t: std::time::SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// Formats a duration like Go's time.Duration.String, as the contract's uptime did.
pub fn go_duration(d: Duration) -> String {
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    let ms = d.subsec_millis();
    let frac = if ms > 0 {
        format!(".{ms:03}").trim_end_matches('0').to_owned()
    } else {
        String::new()
    };
    match (h, m) {
        (0, 0) => format!("{s}{frac}s"),
        (0, _) => format!("{m}m{s}{frac}s"),
        _ => format!("{h}h{m}m{s}{frac}s"),
    }
}

/// Renders stored bytes for JSON: text when possible, else base64.
pub fn text_or_base64(value: Vec<u8>) -> (String, Option<&'static str>) {
    match String::from_utf8(value) {
        Ok(s) => (s, None),
        Err(e) => (
            base64::engine::general_purpose::STANDARD.encode(e.into_bytes()),
            Some("base64"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_go() {
        assert_eq!(go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(go_duration(Duration::from_secs(62)), "1m2s");
        assert_eq!(go_duration(Duration::from_secs(3723)), "1h2m3s");
    }

    #[test]
    fn bytes_are_text_when_they_can_be() {
        assert_eq!(
            text_or_base64(b"plain".to_vec()),
            ("plain".to_owned(), None)
        );
        assert_eq!(
            text_or_base64(vec![0xff, 0x00]),
            ("/wA=".to_owned(), Some("base64"))
        );
    }
}

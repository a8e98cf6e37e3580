//! Number formatting for people.

/// `1.5 GiB`, `312 MiB`, `12 KiB`, `900 B`.
pub fn bytes(v: f64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = v.max(0.0);
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 || value >= 100.0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// `1.2 MiB/s`.
pub fn rate(v: f64) -> String {
    format!("{}/s", bytes(v))
}

/// `42.5 %`.
pub fn pct(v: f64) -> String {
    format!("{v:.1} %")
}

/// `3 d 4 h`, `5 h 12 min`, `7 min`.
pub fn duration(seconds: u64) -> String {
    let (d, h, m) = (
        seconds / 86_400,
        seconds % 86_400 / 3600,
        seconds % 3600 / 60,
    );
    if d > 0 {
        format!("{d} d {h} h")
    } else if h > 0 {
        format!("{h} h {m} min")
    } else {
        format!("{m} min")
    }
}

/// Now, in Unix milliseconds (the page's clock in the browser).
pub fn now_ms() -> i64 {
    #[cfg(feature = "hydrate")]
    {
        js_sys::Date::now() as i64
    }
    #[cfg(not(feature = "hydrate"))]
    {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
    }
}

/// `4 s ago`, `3 min ago`, `2 h ago`, `5 d ago` (`just now` for a clock a little ahead).
pub fn ago(seconds: i64) -> String {
    match seconds {
        ..=0 => "just now".to_owned(),
        1..60 => format!("{seconds} s ago"),
        60..3600 => format!("{} min ago", seconds / 60),
        3600..86_400 => format!("{} h ago", seconds / 3600),
        _ => format!("{} d ago", seconds / 86_400),
    }
}

/// Percent-encodes what a URL query value may not hold as it is.
pub fn query_value(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `path?a=1&b=2`, or `path` alone without parts.
pub fn with_query(path: &str, parts: &[String]) -> String {
    if parts.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", parts.join("&"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(bytes(900.0), "900 B");
        assert_eq!(bytes(1536.0), "1.5 KiB");
        assert_eq!(bytes(300.0 * 1024.0 * 1024.0), "300 MiB");
        assert_eq!(rate(2048.0), "2.0 KiB/s");
        assert_eq!(pct(42.456), "42.5 %");
        assert_eq!(duration(90_061), "1 d 1 h");
        assert_eq!(duration(3_700), "1 h 1 min");
        assert_eq!(ago(-2), "just now");
        assert_eq!(ago(4), "4 s ago");
        assert_eq!(ago(185), "3 min ago");
        assert_eq!(ago(7_300), "2 h ago");
        assert_eq!(ago(5 * 86_400 + 1), "5 d ago");
    }
}

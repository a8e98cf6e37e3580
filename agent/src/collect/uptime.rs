use super::ParseError;

/// Parses `/proc/uptime` into whole seconds since boot.
pub fn parse_uptime(text: &str) -> Result<u64, ParseError> {
    text.split_ascii_whitespace()
        .next()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|v| v.is_finite() && *v >= 0.0)
        .map(|v| v as u64)
        .ok_or_else(|| ParseError::new("/proc/uptime", "expected seconds since boot"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_seconds() {
        assert_eq!(parse_uptime("12345.67 2345.00\n"), Ok(12345));
        assert!(parse_uptime(include_str!("../../tests/fixtures/proc-a/uptime")).is_ok());
        assert!(parse_uptime("-1 0").is_err());
        assert!(parse_uptime("").is_err());
    }
}

//! Durations and sizes as operators write them in flags: `500ms`, `10s`, `2m`, `24h`, `7d`;
//! `512KB`, `128MB`, `2GB`. Shared by the agent's and the server's command lines.
use std::time::Duration;

/// A whole number followed by a unit (possibly empty), e.g. `10s` → (10, "s").
fn number_and_unit(text: &str) -> Option<(u64, &str)> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    Some((number.parse().ok()?, unit.trim()))
}

/// `500ms`, `10s`, `2m`, `1h`, `7d` or a plain number of seconds.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let (value, unit) = number_and_unit(text)?;
    let seconds = |factor: u64| Duration::from_secs(value.saturating_mul(factor));
    Some(match unit {
        "" | "s" => seconds(1),
        "ms" => Duration::from_millis(value),
        "m" => seconds(60),
        "h" => seconds(3600),
        "d" => seconds(86_400),
        _ => return None,
    })
}

/// `1048576`, `512KB`, `128MB`, `2GB` (binary multiples).
pub fn parse_bytes(text: &str) -> Option<u64> {
    let (value, unit) = number_and_unit(text)?;
    let factor: u64 = match unit.to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        _ => return None,
    };
    Some(value.saturating_mul(factor))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_sizes() {
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration(" 15 "), Some(Duration::from_secs(15)));
        assert_eq!(parse_duration("7d"), Some(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_duration("10w"), None);
        assert_eq!(parse_duration("s"), None);
        assert_eq!(parse_bytes("128MB"), Some(128 << 20));
        assert_eq!(parse_bytes("64kib"), Some(64 << 10));
        assert_eq!(parse_bytes("3TB"), None);
    }
}

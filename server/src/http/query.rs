//! The parameters of history queries: times and steps as people and scripts write them,
//! bounded so that every later conversion to milliseconds is exact.
use app::ApiError;

/// Latest time a query may name: the end of year 9999, so milliseconds never overflow.
const MAX_TIME_S: i64 = 253_402_300_799;

/// RFC 3339 or unix seconds, between 1970 and 9999.
pub fn parse_time(name: &'static str, text: &str) -> Result<i64, ApiError> {
    let seconds = if let Ok(seconds) = text.parse::<i64>() {
        Some(seconds)
    } else if let Ok(seconds) = text.parse::<f64>()
        && seconds.is_finite()
    {
        Some(seconds as i64)
    } else {
        chrono::DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|t| t.timestamp())
    };
    seconds
        .filter(|s| (0..=MAX_TIME_S).contains(s))
        .ok_or_else(|| ApiError::InvalidTime {
            name,
            text: text.chars().take(64).collect(),
        })
}

/// Seconds, or a duration such as `5m`.
pub fn parse_step(text: &str) -> Result<i64, ApiError> {
    crate::config::parse_duration(text)
        .ok()
        .and_then(|d| i64::try_from(d.as_secs()).ok())
        .filter(|s| (1..=MAX_TIME_S).contains(s))
        .ok_or(ApiError::InvalidStep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_both_forms() {
        assert_eq!(parse_time("from", "1795000000").unwrap(), 1_795_000_000);
        assert_eq!(
            parse_time("from", "2026-11-18T11:06:40Z").unwrap(),
            1_795_000_000
        );
        assert_eq!(
            parse_time("from", "2026-11-18T12:06:40+01:00").unwrap(),
            1_795_000_000
        );
        assert_eq!(
            parse_time("from", "yesterday").unwrap_err().code(),
            "invalid_time"
        );
        for extreme in ["-9223372036854775808", "9223372036854775807", "1e300", "-1"] {
            assert_eq!(
                parse_time("to", extreme).unwrap_err().code(),
                "invalid_time"
            );
        }
    }

    #[test]
    fn steps() {
        assert_eq!(parse_step("60").unwrap(), 60);
        assert_eq!(parse_step("5m").unwrap(), 300);
        assert!(parse_step("0").is_err());
        assert!(parse_step("-5").is_err());
        assert!(parse_step("18446744073709551615").is_err());
    }
}

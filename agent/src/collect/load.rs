use super::ParseError;

/// Load averages over 1, 5 and 15 minutes.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct LoadAverage {
    pub one: f64,
    pub five: f64,
    pub fifteen: f64,
}

/// Parses `/proc/loadavg`.
pub fn parse_loadavg(text: &str) -> Result<LoadAverage, ParseError> {
    let mut fields = text.split_ascii_whitespace().map(str::parse::<f64>);
    let mut next = || match fields.next() {
        Some(Ok(v)) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(ParseError::new(
            "/proc/loadavg",
            "expected three load figures",
        )),
    };
    Ok(LoadAverage {
        one: next()?,
        five: next()?,
        fifteen: next()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_three_figures() {
        let load = parse_loadavg("0.52 1.25 2.00 3/412 12345\n").unwrap();
        assert_eq!(
            load,
            LoadAverage {
                one: 0.52,
                five: 1.25,
                fifteen: 2.0
            }
        );
        assert!(parse_loadavg(include_str!("../../tests/fixtures/proc-a/loadavg")).is_ok());
    }

    #[test]
    fn rejects_short_or_bad_text() {
        assert!(parse_loadavg("0.5 1.0").is_err());
        assert!(parse_loadavg("a b c").is_err());
        assert!(parse_loadavg("").is_err());
    }
}

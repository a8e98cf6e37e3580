use std::collections::BTreeMap;

use super::ParseError;

/// Cumulative byte counters of one network interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InterfaceCounters {
    pub rx_bytes: u64,
    pub tx_bytes: u64,
}

/// Receive and transmit rates of one interface over an interval.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct InterfaceRate {
    pub name: String,
    pub rx_bytes_per_s: f64,
    pub tx_bytes_per_s: f64,
}

/// Parses `/proc/net/dev`, leaving out the loopback interface.
pub fn parse_net_dev(text: &str) -> Result<BTreeMap<String, InterfaceCounters>, ParseError> {
    let mut interfaces = BTreeMap::new();
    // The first two lines are column headers.
    for line in text.lines().skip(2) {
        let Some((name, counters)) = line.split_once(':') else {
            return Err(ParseError::new(
                "/proc/net/dev",
                format!("no interface name in {line:?}"),
            ));
        };
        let name = name.trim();
        if name == "lo" {
            continue;
        }
        let fields: Vec<u64> = counters
            .split_ascii_whitespace()
            .map(str::parse)
            .collect::<Result<_, _>>()
            .map_err(|e| ParseError::new("/proc/net/dev", format!("{name}: {e}")))?;
        if fields.len() < 16 {
            return Err(ParseError::new(
                "/proc/net/dev",
                format!("{name} has {} counters", fields.len()),
            ));
        }
        interfaces.insert(
            name.to_owned(),
            InterfaceCounters {
                rx_bytes: fields[0],
                tx_bytes: fields[8],
            },
        );
    }
    Ok(interfaces)
}

/// Per-interface rates between two readings taken `elapsed_s` apart. Interfaces
/// missing from the earlier reading (just created) are left out; a counter that
/// went backwards (driver reset) gives 0 rather than a huge figure.
pub fn interface_rates(
    earlier: &BTreeMap<String, InterfaceCounters>,
    later: &BTreeMap<String, InterfaceCounters>,
    elapsed_s: f64,
) -> Vec<InterfaceRate> {
    if elapsed_s <= 0.0 {
        return Vec::new();
    }
    later
        .iter()
        .filter_map(|(name, now)| {
            let before = earlier.get(name)?;
            Some(InterfaceRate {
                name: name.clone(),
                rx_bytes_per_s: now.rx_bytes.saturating_sub(before.rx_bytes) as f64 / elapsed_s,
                tx_bytes_per_s: now.tx_bytes.saturating_sub(before.tx_bytes) as f64 / elapsed_s,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "Inter-|   Receive                                                |  Transmit\n \
                          face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n";

    #[test]
    fn excludes_loopback() {
        let ifs = parse_net_dev(include_str!("../../tests/fixtures/proc-a/net/dev")).unwrap();
        assert!(!ifs.contains_key("lo"));
        assert!(ifs.contains_key("eth0"));
    }

    #[test]
    fn rates_are_bytes_per_second() {
        let a = parse_net_dev(&format!(
            "{HEADER}  eth0: 1000 1 0 0 0 0 0 0 2000 1 0 0 0 0 0 0\n"
        ))
        .unwrap();
        let b = parse_net_dev(&format!(
            "{HEADER}  eth0: 3000 1 0 0 0 0 0 0 2500 1 0 0 0 0 0 0\n"
        ))
        .unwrap();
        let rates = interface_rates(&a, &b, 2.0);
        assert_eq!(
            rates,
            vec![InterfaceRate {
                name: "eth0".into(),
                rx_bytes_per_s: 1000.0,
                tx_bytes_per_s: 250.0
            }]
        );
    }

    #[test]
    fn reset_counters_and_new_interfaces() {
        let a = parse_net_dev(&format!(
            "{HEADER}  eth0: 9000 1 0 0 0 0 0 0 9000 1 0 0 0 0 0 0\n"
        ))
        .unwrap();
        let b = parse_net_dev(&format!(
            "{HEADER}  eth0: 10 1 0 0 0 0 0 0 10 1 0 0 0 0 0 0\nveth1: 5 1 0 0 0 0 0 0 5 1 0 0 0 0 0 0\n"
        ))
        .unwrap();
        let rates = interface_rates(&a, &b, 10.0);
        assert_eq!(rates.len(), 1);
        assert_eq!(rates[0].rx_bytes_per_s, 0.0);
    }

    #[test]
    fn rejects_truncated_lines() {
        assert!(parse_net_dev(&format!("{HEADER}  eth0: 1 2 3\n")).is_err());
        assert!(parse_net_dev(&format!("{HEADER}garbage\n")).is_err());
    }
}

use super::ParseError;

/// Memory and swap figures in bytes. `used` is `total - available`, as `free` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Memory {
    pub total_bytes: u64,
    pub available_bytes: u64,
    pub used_bytes: u64,
    pub swap_total_bytes: u64,
    pub swap_used_bytes: u64,
}

/// Parses `/proc/meminfo` (values in kB).
pub fn parse_meminfo(text: &str) -> Result<Memory, ParseError> {
    let mut total = None;
    let mut available = None;
    let mut free = None;
    let mut buffers = 0;
    let mut cached = 0;
    let mut swap_total = 0;
    let mut swap_free = 0;
    for line in text.lines() {
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        let Some(kb) = rest
            .split_ascii_whitespace()
            .next()
            .and_then(|v| v.parse::<u64>().ok())
        else {
            continue;
        };
        let bytes = kb.saturating_mul(1024);
        match key {
            "MemTotal" => total = Some(bytes),
            "MemAvailable" => available = Some(bytes),
            "MemFree" => free = Some(bytes),
            "Buffers" => buffers = bytes,
            "Cached" => cached = bytes,
            "SwapTotal" => swap_total = bytes,
            "SwapFree" => swap_free = bytes,
            _ => {}
        }
    }
    let total = total.ok_or_else(|| ParseError::new("/proc/meminfo", "no MemTotal"))?;
    // Kernels before 3.14 have no MemAvailable: estimate it the way `free` used to.
    let available = match (available, free) {
        (Some(a), _) => a,
        (None, Some(f)) => f.saturating_add(buffers).saturating_add(cached),
        (None, None) => {
            return Err(ParseError::new(
                "/proc/meminfo",
                "no MemAvailable or MemFree",
            ));
        }
    }
    .min(total);
    Ok(Memory {
        total_bytes: total,
        available_bytes: available,
        used_bytes: total - available,
        swap_total_bytes: swap_total,
        swap_used_bytes: swap_total.saturating_sub(swap_free),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn used_is_total_minus_available() {
        let text = "MemTotal:       16000 kB\nMemFree:         1000 kB\nMemAvailable:    6000 kB\n\
                    SwapTotal:       2000 kB\nSwapFree:        1500 kB\n";
        let m = parse_meminfo(text).unwrap();
        assert_eq!(m.total_bytes, 16000 * 1024);
        assert_eq!(m.used_bytes, 10000 * 1024);
        assert_eq!(m.swap_used_bytes, 500 * 1024);
    }

    #[test]
    fn old_kernels_estimate_available() {
        let text = "MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 50 kB\nCached: 250 kB\n";
        assert_eq!(parse_meminfo(text).unwrap().available_bytes, 400 * 1024);
    }

    #[test]
    fn captured_file_parses() {
        let m = parse_meminfo(include_str!("../../tests/fixtures/proc-a/meminfo")).unwrap();
        assert!(m.total_bytes > 0 && m.used_bytes <= m.total_bytes);
    }

    #[test]
    fn missing_total_is_an_error() {
        assert!(parse_meminfo("MemFree: 10 kB\n").is_err());
    }
}

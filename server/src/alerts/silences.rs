//! When a silence holds, and what it covers.
use app::alerts::{SilenceMatcher, WeeklyWindow, glob_matches};
use chrono::{Datelike, Timelike};

/// The days of a weekly window, as written.
pub const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// A silence ready to match.
#[derive(Debug, Clone, PartialEq)]
pub struct ActiveRule {
    pub id: i64,
    pub matcher: SilenceMatcher,
    pub starts_at_ms: i64,
    pub ends_at_ms: Option<i64>,
    pub weekly: Option<Weekly>,
}

/// A weekly window: start days (0 = Monday), start minute of the day (UTC), length.
#[derive(Debug, Clone, PartialEq)]
pub struct Weekly {
    pub days: Vec<u32>,
    pub start_minute: u32,
    pub minutes: u32,
}

impl Weekly {
    /// Checks and converts the API's form.
    pub fn parse(w: &WeeklyWindow) -> Result<Self, String> {
        if w.days.is_empty() {
            return Err("`weekly.days` names at least one day (mon … sun).".into());
        }
        let days = w
            .days
            .iter()
            .map(|d| {
                DAYS.iter()
                    .position(|n| n.eq_ignore_ascii_case(d))
                    .map(|i| i as u32)
                    .ok_or_else(|| {
                        format!("{d:?} is not a day; use mon, tue, wed, thu, fri, sat or sun.")
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let (h, m) = w
            .start
            .split_once(':')
            .and_then(|(h, m)| Some((h.parse::<u32>().ok()?, m.parse::<u32>().ok()?)))
            .filter(|(h, m)| *h < 24 && *m < 60 && w.start.len() == 5)
            .ok_or("`weekly.start` is HH:MM (UTC), e.g. 02:30.")?;
        if !(1..=7 * 24 * 60).contains(&w.duration_minutes) {
            return Err("`weekly.duration_minutes` is 1 to 10080.".into());
        }
        Ok(Self {
            days,
            start_minute: h * 60 + m,
            minutes: w.duration_minutes,
        })
    }

    /// Whether `now_ms` falls in one of the windows (which may run past midnight and into
    /// the next week).
    pub fn contains(&self, now_ms: i64) -> bool {
        let Some(now) = chrono::DateTime::from_timestamp_millis(now_ms) else {
            return false;
        };
        let week_minute =
            now.weekday().num_days_from_monday() * 1_440 + now.hour() * 60 + now.minute();
        const WEEK: u32 = 7 * 1_440;
        self.days.iter().any(|day| {
            let start = day * 1_440 + self.start_minute;
            let since = (week_minute + WEEK - start) % WEEK;
            since < self.minutes
        })
    }
}

impl ActiveRule {
    /// Whether it holds at `now_ms`.
    pub fn holds(&self, now_ms: i64) -> bool {
        now_ms >= self.starts_at_ms
            && self.ends_at_ms.is_none_or(|end| now_ms < end)
            && self.weekly.as_ref().is_none_or(|w| w.contains(now_ms))
    }

    /// Whether it covers an alert of `rule_id` about `subject` on a host.
    pub fn covers(
        &self,
        rule_id: i64,
        agent_id: Option<&str>,
        tags: &[String],
        subject: &str,
    ) -> bool {
        let m = &self.matcher;
        m.rule_id.is_none_or(|r| r == rule_id)
            && m.agent_id.as_deref().is_none_or(|a| Some(a) == agent_id)
            && m.tag
                .as_deref()
                .is_none_or(|tag| tags.iter().any(|t| t == tag))
            && m.container.as_deref().is_none_or(|glob| {
                subject
                    .strip_prefix("container:")
                    .is_some_and(|name| glob_matches(glob, name))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(text)
            .unwrap()
            .timestamp_millis()
    }

    #[test]
    fn weekly_windows_hold_on_their_days_and_across_midnight() {
        // Sundays 23:00 for 3 hours: into Monday 02:00.
        let w = Weekly::parse(&WeeklyWindow {
            days: vec!["sun".into()],
            start: "23:00".into(),
            duration_minutes: 180,
        })
        .unwrap();
        assert!(w.contains(at("2026-11-29T23:30:00Z")), "Sunday night");
        assert!(w.contains(at("2026-11-30T01:59:00Z")), "Monday early");
        assert!(!w.contains(at("2026-11-30T02:00:00Z")), "over");
        assert!(!w.contains(at("2026-11-28T23:30:00Z")), "a Saturday");
        assert!(
            Weekly::parse(&WeeklyWindow {
                days: vec!["someday".into()],
                start: "23:00".into(),
                duration_minutes: 1
            })
            .is_err()
        );
        assert!(
            Weekly::parse(&WeeklyWindow {
                days: vec!["mon".into()],
                start: "24:00".into(),
                duration_minutes: 1
            })
            .is_err()
        );
    }

    #[test]
    fn a_silence_covers_what_its_matcher_names() {
        let rule = ActiveRule {
            id: 1,
            matcher: SilenceMatcher {
                tag: Some("db".into()),
                container: Some("postgres-*".into()),
                ..Default::default()
            },
            starts_at_ms: 0,
            ends_at_ms: Some(1_000),
            weekly: None,
        };
        let tags = vec!["db".to_owned()];
        assert!(rule.covers(5, Some("a"), &tags, "container:postgres-1"));
        assert!(!rule.covers(5, Some("a"), &tags, "container:redis"));
        assert!(!rule.covers(5, Some("a"), &[], "container:postgres-1"));
        assert!(!rule.covers(5, Some("a"), &tags, "host"));
        assert!(rule.holds(999) && !rule.holds(1_000));
    }
}

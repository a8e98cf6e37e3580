//! The one rule for text that people name things with (labels, tags, token names, usernames)
//! and that agents report (hostnames, mount points, container names): no NUL, no control
//! characters (they forge log lines and terminal output) and no bidirectional overrides
//! (they make a name read differently from what it is).

/// True for the characters that reorder text (Unicode bidi controls).
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// The first character that a name may not hold, if any.
pub fn forbidden_char(text: &str) -> Option<char> {
    text.chars().find(|c| c.is_control() || is_bidi_control(*c))
}

/// Checks a name: at most `max` characters, none of them control or bidi characters.
/// `what` names the field in the message ("A label").
pub fn check_name(what: &str, text: &str, max: usize) -> Result<(), String> {
    if text.chars().count() > max {
        return Err(format!("{what} is at most {max} characters."));
    }
    if let Some(c) = forbidden_char(text) {
        return Err(format!(
            "{what} may not contain control or bidirectional characters (found U+{:04X}).",
            c as u32
        ));
    }
    Ok(())
}

/// The most characters in a host label.
pub const LABEL_MAX: usize = 64;
/// The most tags on a host, and the most characters in each.
pub const TAGS_MAX: usize = 32;
pub const TAG_MAX: usize = 64;
/// The most characters in an API token's name.
pub const TOKEN_NAME_MAX: usize = 100;
/// How long an enrollment token may stay usable, in hours (7 days at most).
pub const ENROLLMENT_TTL_HOURS: std::ops::RangeInclusive<i64> = 1..=168;

/// A name that must not be empty: 1 to `max` characters, the [`check_name`] rule.
pub fn check_required_name(what: &str, text: &str, max: usize) -> Result<(), String> {
    if text.is_empty() || text.chars().count() > max {
        return Err(format!("{what} is 1 to {max} characters."));
    }
    check_name(what, text, max)
}

/// A host label (trimmed by the caller).
pub fn check_label(label: &str) -> Result<(), String> {
    check_required_name("A label", label, LABEL_MAX)
}

/// A host's tags (each trimmed by the caller).
pub fn check_tags(tags: &[String]) -> Result<(), String> {
    if tags.len() > TAGS_MAX {
        return Err(format!("A host has at most {TAGS_MAX} tags."));
    }
    tags.iter()
        .try_for_each(|t| check_required_name("A tag", t, TAG_MAX))
}

/// An API token's name (trimmed by the caller).
pub fn check_token_name(name: &str) -> Result<(), String> {
    check_required_name("A token name", name, TOKEN_NAME_MAX)
}

/// An enrollment token's lifetime.
pub fn check_enrollment_ttl(hours: i64) -> Result<(), String> {
    if ENROLLMENT_TTL_HOURS.contains(&hours) {
        Ok(())
    } else {
        Err(format!(
            "ttl_hours is {} to {} (7 days).",
            ENROLLMENT_TTL_HOURS.start(),
            ENROLLMENT_TTL_HOURS.end()
        ))
    }
}

/// The uses a fleet enrollment token may allow.
pub const ENROLLMENT_MAX_USES: std::ops::RangeInclusive<i64> = 1..=100_000;

/// `max_uses` of an enrollment token: `None` (any number within its TTL) or within
/// [`ENROLLMENT_MAX_USES`].
pub fn check_enrollment_max_uses(max_uses: Option<i64>) -> Result<(), String> {
    match max_uses {
        Some(n) if !ENROLLMENT_MAX_USES.contains(&n) => Err(format!(
            "max_uses is {} to {}, or null for any number of hosts within the TTL.",
            ENROLLMENT_MAX_USES.start(),
            ENROLLMENT_MAX_USES.end()
        )),
        _ => Ok(()),
    }
}

/// Free text (a status line, an error message, a certificate subject): like a name, but tabs
/// and line breaks are allowed.
pub fn forbidden_in_free_text(text: &str) -> Option<char> {
    text.chars()
        .find(|c| (c.is_control() && !matches!(c, '\t' | '\n' | '\r')) || is_bidi_control(*c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_refuse_controls_and_bidi() {
        assert!(check_name("A label", "web-1 (eu)", 64).is_ok());
        assert!(check_name("A label", "Zürich ✓", 64).is_ok());
        for bad in [
            "a\nb",
            "a\0b",
            "\u{1b}[31mred",
            "\u{9b}x",
            "evil\u{202E}txt.exe",
            "\u{2066}x",
        ] {
            assert!(check_name("A label", bad, 64).is_err(), "{bad:?}");
        }
        assert!(check_name("A label", &"x".repeat(65), 64).is_err());
        assert_eq!(forbidden_in_free_text("line 1\nline 2\tx"), None);
        assert_eq!(forbidden_in_free_text("x\0"), Some('\0'));
    }
}

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

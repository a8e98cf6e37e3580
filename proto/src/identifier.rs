//! What may name an app, per kind: the server checks it when an app is tracked and again when
//! it signs a restart, the agent before it runs one. Each rule is the kind's own grammar and
//! never lets through a leading dash (an option to the command), whitespace, `..`, quotes or
//! a shell metacharacter, so an identifier is always one plain argument.

/// The kinds of app: how one is watched and restarted.
pub const KINDS: &[&str] = &["systemd", "docker", "compose", "process"];

/// The suffixes of systemd unit names.
const UNIT_TYPES: &[&str] = &[
    "service",
    "socket",
    "timer",
    "target",
    "path",
    "mount",
    "automount",
    "swap",
    "slice",
    "scope",
    "device",
];

/// Checks `identifier` for an app of `kind` (`systemd`, `docker`, `compose`, `process`): why
/// not, in a sentence, when it is not one.
pub fn check(kind: &str, identifier: &str) -> Result<(), String> {
    if identifier.is_empty() {
        return Err("The identifier is empty.".into());
    }
    if let Some(c) = identifier
        .chars()
        .find(|c| c.is_whitespace() || c.is_control())
    {
        return Err(format!(
            "An identifier holds no whitespace or control characters (found {c:?})."
        ));
    }
    if identifier.starts_with('-') {
        return Err("An identifier never starts with a dash (it would read as an option).".into());
    }
    if identifier.contains("..") {
        return Err("An identifier never holds \"..\".".into());
    }
    if let Some(c) = identifier
        .chars()
        .find(|c| "'\"`$;&|<>(){}[]*?!~#%^=,\\".contains(*c))
    {
        return Err(format!(
            "An identifier holds no quotes or shell metacharacters (found {c:?})."
        ));
    }
    match kind {
        "systemd" => systemd_unit(identifier),
        "docker" => container_name(identifier),
        "compose" => compose_service(identifier),
        "process" => executable(identifier),
        other => Err(format!(
            "Unknown app type {:?}; use one of {}.",
            other.chars().take(32).collect::<String>(),
            KINDS.join(", ")
        )),
    }
}

fn systemd_unit(name: &str) -> Result<(), String> {
    let rule = "A systemd unit is letters, digits and : _ . @ - with a type suffix, e.g. nginx.service or getty@tty1.service";
    if name.len() > 255 {
        return Err(format!("{rule}; at most 255 characters."));
    }
    let Some((stem, suffix)) = name.rsplit_once('.') else {
        return Err(format!("{rule}."));
    };
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || ":_.@-".contains(c));
    let at = stem.matches('@').count();
    if stem.is_empty()
        || !ok_chars
        || !UNIT_TYPES.contains(&suffix)
        || at > 1
        || stem.starts_with('.')
        || stem.starts_with('@')
    {
        return Err(format!("{rule}."));
    }
    Ok(())
}

fn container_name(name: &str) -> Result<(), String> {
    let rule = "A container name is a letter or digit, then letters, digits and _ . -, at most 128 characters";
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    if !first_ok
        || name.len() > 128
        || !chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
    {
        return Err(format!("{rule}."));
    }
    Ok(())
}

fn compose_service(identifier: &str) -> Result<(), String> {
    let rule = "A Compose service is project::service: the project lower-case letters, digits, _ and -, starting with a letter or digit; the service a letter or digit, then letters, digits and _ . -";
    let Some((project, service)) = identifier.split_once("::") else {
        return Err(format!("{rule}."));
    };
    let project_ok = project
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && project
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_-".contains(c))
        && project.len() <= 128;
    if !project_ok || container_name(service).is_err() || service.contains(':') {
        return Err(format!("{rule}."));
    }
    Ok(())
}

fn executable(path: &str) -> Result<(), String> {
    let rule = "A process is the absolute path of its executable, e.g. /usr/local/bin/worker: letters, digits and _ . + @ - between slashes";
    if !path.starts_with('/') || path.len() > 4096 || path.ends_with('/') {
        return Err(format!("{rule}."));
    }
    for part in path[1..].split('/') {
        let ok = !part.is_empty()
            && part != "."
            && !part.starts_with('-')
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.+@-".contains(c));
        if !ok {
            return Err(format!("{rule}."));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_takes_its_own_names() {
        for (kind, good) in [
            ("systemd", "nginx.service"),
            ("systemd", "getty@tty1.service"),
            ("systemd", "system-getty.slice"),
            ("systemd", "backup.timer"),
            ("docker", "web"),
            ("docker", "shop_web.1"),
            ("compose", "shop::web"),
            ("compose", "my-app_2::db.primary"),
            ("process", "/usr/local/bin/worker"),
            ("process", "/opt/app-1.2/bin/run+x"),
        ] {
            assert_eq!(check(kind, good), Ok(()), "{kind} {good}");
        }
    }

    #[test]
    fn what_could_be_more_than_one_plain_argument_is_refused() {
        for kind in KINDS {
            for bad in [
                "x.service;id",
                "--help",
                "-x",
                "../x",
                "$(id)",
                "a\nb",
                "a b",
                "`id`",
                "a'b",
                "a\"b",
                "a|b",
                "a&b",
                "a>b",
                "",
                "a\\b",
            ] {
                assert!(check(kind, bad).is_err(), "{kind} {bad:?}");
            }
        }
        for (kind, bad) in [
            ("systemd", "nginx"),
            ("systemd", "nginx.exe"),
            ("systemd", ".service"),
            ("systemd", "a@b@c.service"),
            ("docker", "_web"),
            ("docker", "web/1"),
            ("compose", "shop"),
            ("compose", "Shop::web"),
            ("compose", "shop::"),
            ("compose", "shop::a::b"),
            ("process", "worker"),
            ("process", "/usr/bin/"),
            ("process", "/usr/./bin/x"),
            ("process", "/usr/bin/-x"),
            ("process", "//x"),
            ("nope", "x"),
        ] {
            assert!(check(kind, bad).is_err(), "{kind} {bad:?}");
        }
        assert!(check("systemd", &format!("{}.service", "a".repeat(250))).is_err());
    }
}

//! The agent binary's answers to operator mistakes: one plain line and a non-zero exit.
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

fn agent(args: &[&str], state_dir: &std::path::Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vantage-agent"))
        .args(args)
        .arg("--state-dir")
        .arg(state_dir)
        .env("VANTAGE_LOG", "off")
        .env_remove("VANTAGE_SERVER")
        .env_remove("VANTAGE_ENROLLMENT_TOKEN")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn mistakes_get_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let token = "vtg_enr_0000";
    for (args, expected) in [
        (vec![], "not enrolled yet"),
        (
            vec![
                "--server",
                "http://v.example:8443",
                "--enrollment-token",
                token,
            ],
            "must start with grpcs://",
        ),
        (
            vec![
                "--server",
                "grpcs://v.example:8443",
                "--enrollment-token",
                token,
                "--server-pin",
                "md5:x",
            ],
            "a pin starts with sha256:",
        ),
        (
            vec![
                "--server",
                "grpcs://127.0.0.1:1",
                "--enrollment-token",
                token,
                "--server-pin",
                &format!("sha256:{}", "0".repeat(64)),
            ],
            "cannot connect",
        ),
        (vec!["--host-interval", "soon"], "whole number of seconds"),
        (
            vec!["--host-interval", "50ms"],
            "too short; use 100ms or more",
        ),
        (
            vec!["--host-interval", "fastms"],
            "not an interval such as 10s or 500ms",
        ),
        (
            vec!["--spool-max-bytes", "10KB"],
            "too small; the spool needs at least 64KB",
        ),
    ] {
        let (code, stderr) = agent(&args, dir.path());
        assert_ne!(code, 0, "{args:?}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(
            stderr.trim().lines().count() <= 3 && !stderr.contains("panicked"),
            "{stderr}"
        );
    }
}

#[test]
fn an_identity_others_can_read_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("identity.json");
    std::fs::write(&path, "{}").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (code, stderr) = agent(&[], dir.path());
    assert_eq!(code, 1);
    assert!(
        stderr.contains("readable by other users") && stderr.contains("chmod 600"),
        "{stderr}"
    );
}

#[test]
fn a_loose_state_dir_or_a_symlinked_identity_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let (code, stderr) = agent(&[], dir.path());
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("writable by other users") && stderr.contains("chmod 700"),
        "{stderr}"
    );

    // A symlink planted where the identity goes is never read through.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let elsewhere = tempfile::NamedTempFile::new().unwrap();
    std::fs::set_permissions(elsewhere.path(), std::fs::Permissions::from_mode(0o600)).unwrap();
    std::os::unix::fs::symlink(elsewhere.path(), dir.path().join("identity.json")).unwrap();
    let (code, stderr) = agent(&[], dir.path());
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("symlink"), "{stderr}");
    assert!(
        stderr.trim().lines().count() <= 3 && !stderr.contains("panicked"),
        "{stderr}"
    );
}

#[test]
fn version_and_help() {
    let out = Command::new(env!("CARGO_BIN_EXE_vantage-agent"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("vantage-agent "));
    let out = Command::new(env!("CARGO_BIN_EXE_vantage-agent"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--server",
        "--enrollment-token",
        "--label",
        "--server-pin",
        "--runtime",
        "--state-dir",
        "--grpc-insecure-skip-tls-verify",
    ] {
        assert!(help.contains(flag), "{flag}");
    }
}

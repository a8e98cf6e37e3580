//! `vantage-agent install` / `uninstall`: a systemd unit (system or `--user`), a launchd plist
//! on macOS, or the manual command when neither service manager is there. Service managers are
//! called directly, never through a shell.
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;

/// The service name.
pub const SERVICE: &str = "vantage-agent";
const LAUNCHD_LABEL: &str = "io.vantage.agent";

/// Where and how the service is installed.
#[derive(Debug, Clone)]
pub struct ServicePlan {
    /// `--user`: a per-user service instead of a system one.
    pub user: bool,
    /// The command the service runs (binary first), without any secret.
    pub command: Vec<String>,
}

/// One argument as systemd's ExecStart reads it: quoted, with `\`, `"`, `%` and `$` escaped.
fn systemd_quote(arg: &str) -> String {
    let escaped = arg
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('%', "%%")
        .replace('$', "$$");
    format!("\"{escaped}\"")
}

/// The systemd unit text.
pub fn systemd_unit(plan: &ServicePlan) -> String {
    let exec = plan
        .command
        .iter()
        .map(|a| systemd_quote(a))
        .collect::<Vec<_>>()
        .join(" ");
    let wanted_by = if plan.user {
        "default.target"
    } else {
        "multi-user.target"
    };
    let hardening = if plan.user {
        ""
    } else {
        "NoNewPrivileges=yes\nProtectSystem=strict\nProtectHome=read-only\nPrivateTmp=yes\n"
    };
    let state = if plan.user {
        ""
    } else {
        "StateDirectory=vantage-agent\nStateDirectoryMode=0700\n"
    };
    format!(
        "[Unit]\nDescription=Vantage agent: streams this host's metrics to a Vantage server\n\
         Wants=network-online.target\nAfter=network-online.target\n\n\
         [Service]\nExecStart={exec}\nRestart=on-failure\nRestartSec=5\n\
         # Exit code 3 means revoked by the server: do not restart.\nRestartPreventExitStatus=3\n\
         {state}{hardening}\n[Install]\nWantedBy={wanted_by}\n"
    )
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The launchd property list (macOS).
pub fn launchd_plist(plan: &ServicePlan) -> String {
    let args: String = plan
        .command
        .iter()
        .map(|a| format!("    <string>{}</string>\n", xml_escape(a)))
        .collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
         <plist version=\"1.0\">\n<dict>\n  <key>Label</key>\n  <string>{LAUNCHD_LABEL}</string>\n  \
         <key>ProgramArguments</key>\n  <array>\n{args}  </array>\n  <key>RunAtLoad</key>\n  <true/>\n  \
         <key>KeepAlive</key>\n  <dict>\n    <key>SuccessfulExit</key>\n    <false/>\n  </dict>\n</dict>\n</plist>\n"
    )
}

/// What the host offers to run services.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceManager {
    Systemd,
    Launchd,
    None,
}

/// systemd when it is PID 1 (as sd_booted checks), launchd on macOS.
pub fn detect() -> ServiceManager {
    if cfg!(target_os = "macos") {
        ServiceManager::Launchd
    } else if Path::new("/run/systemd/system").is_dir() {
        ServiceManager::Systemd
    } else {
        ServiceManager::None
    }
}

fn home() -> anyhow::Result<PathBuf> {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .context("HOME is not set")
}

fn unit_path(user: bool) -> anyhow::Result<PathBuf> {
    Ok(if user {
        home()?
            .join(".config/systemd/user")
            .join(format!("{SERVICE}.service"))
    } else {
        PathBuf::from("/etc/systemd/system").join(format!("{SERVICE}.service"))
    })
}

fn plist_path(user: bool) -> anyhow::Result<PathBuf> {
    Ok(if user {
        home()?
            .join("Library/LaunchAgents")
            .join(format!("{LAUNCHD_LABEL}.plist"))
    } else {
        PathBuf::from("/Library/LaunchDaemons").join(format!("{LAUNCHD_LABEL}.plist"))
    })
}

fn run(program: &str, args: &[&str]) -> anyhow::Result<()> {
    let status = Command::new(program)
        .args(args)
        .status()
        .with_context(|| format!("cannot run {program}"))?;
    anyhow::ensure!(
        status.success(),
        "`{program} {}` failed ({status})",
        args.join(" ")
    );
    Ok(())
}

fn systemctl(user: bool, args: &[&str]) -> anyhow::Result<()> {
    let mut all = Vec::with_capacity(args.len() + 1);
    if user {
        all.push("--user");
    }
    all.extend_from_slice(args);
    run("systemctl", &all)
}

/// Writes and starts the service. Returns what the operator should read.
pub fn install(plan: &ServicePlan, manager: ServiceManager) -> anyhow::Result<String> {
    match manager {
        ServiceManager::Systemd => {
            let path = unit_path(plan.user)?;
            write_file(&path, &systemd_unit(plan))?;
            systemctl(plan.user, &["daemon-reload"])?;
            systemctl(plan.user, &["enable", "--now", SERVICE])?;
            let scope = if plan.user { "--user " } else { "" };
            Ok(format!(
                "installed {} and started it; see `systemctl {scope}status {SERVICE}` and `journalctl {scope}-u {SERVICE}`",
                path.display()
            ))
        }
        ServiceManager::Launchd => {
            let path = plist_path(plan.user)?;
            write_file(&path, &launchd_plist(plan))?;
            run("launchctl", &["load", "-w", &path.to_string_lossy()])?;
            Ok(format!(
                "installed {} and loaded it with launchctl",
                path.display()
            ))
        }
        ServiceManager::None => Ok(format!(
            "no service manager found (systemd is not running here): start the agent yourself, for example\n  {}",
            plan.command.join(" ")
        )),
    }
}

/// Stops and removes the service.
pub fn uninstall(user: bool, manager: ServiceManager) -> anyhow::Result<String> {
    match manager {
        ServiceManager::Systemd => {
            let path = unit_path(user)?;
            if !path.exists() {
                return Ok(format!("{} is not installed", path.display()));
            }
            let _ = systemctl(user, &["disable", "--now", SERVICE]);
            std::fs::remove_file(&path)
                .with_context(|| format!("cannot remove {}", path.display()))?;
            systemctl(user, &["daemon-reload"])?;
            Ok(format!("stopped the agent and removed {}", path.display()))
        }
        ServiceManager::Launchd => {
            let path = plist_path(user)?;
            if !path.exists() {
                return Ok(format!("{} is not installed", path.display()));
            }
            let _ = run("launchctl", &["unload", "-w", &path.to_string_lossy()]);
            std::fs::remove_file(&path)
                .with_context(|| format!("cannot remove {}", path.display()))?;
            Ok(format!("unloaded and removed {}", path.display()))
        }
        ServiceManager::None => {
            Ok("no service manager found: stop the agent process yourself".into())
        }
    }
}

fn write_file(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(user: bool) -> ServicePlan {
        ServicePlan {
            user,
            command: vec![
                "/usr/local/bin/vantage-agent".into(),
                "--state-dir".into(),
                "/var/lib/vantage agent".into(),
                "--label".into(),
                "50% \"db\" $HOME".into(),
            ],
        }
    }

    #[test]
    fn the_unit_quotes_every_argument_and_never_restarts_a_revoked_agent() {
        let unit = systemd_unit(&plan(false));
        assert!(
            unit.contains(
                r#"ExecStart="/usr/local/bin/vantage-agent" "--state-dir" "/var/lib/vantage agent""#
            ),
            "{unit}"
        );
        assert!(unit.contains(r#""50%% \"db\" $$HOME""#), "{unit}");
        assert!(unit.contains("RestartPreventExitStatus=3"));
        assert!(unit.contains("WantedBy=multi-user.target"));
        assert!(systemd_unit(&plan(true)).contains("WantedBy=default.target"));
        assert!(!unit.contains("vtg_enr_"));
    }

    #[test]
    fn the_plist_escapes_arguments() {
        let plist = launchd_plist(&plan(true));
        assert!(
            plist.contains("<string>50% &quot;db&quot; $HOME</string>"),
            "{plist}"
        );
        assert!(plist.contains("<key>RunAtLoad</key>"));
    }

    #[test]
    fn without_a_service_manager_the_command_is_printed() {
        let text = install(&plan(false), ServiceManager::None).unwrap();
        assert!(
            text.contains("/usr/local/bin/vantage-agent --state-dir"),
            "{text}"
        );
    }
}

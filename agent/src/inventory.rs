//! What runs on this host, for tracking apps: systemd units (`systemctl --output=json`, run
//! without a shell), Docker containers and the Compose services their labels name, and the
//! executables of running processes. Sent every `--inventory-interval`, when it changes
//! (checked every `--inventory-check-interval`), when the server asks, and by `--once`.
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::sync::{Notify, mpsc};

use crate::collect::parse_passwd;

/// Where `systemctl` is looked for (an absolute path: no `PATH` lookup).
pub const SYSTEMCTL: &[&str] = &["/usr/bin/systemctl", "/bin/systemctl"];
/// How long `systemctl` may take.
const SYSTEMCTL_TIMEOUT: Duration = Duration::from_secs(10);
/// The labels Docker Compose puts on its containers.
const COMPOSE_PROJECT: &str = "com.docker.compose.project";
const COMPOSE_SERVICE: &str = "com.docker.compose.service";
/// How an inventory's errors name its parts (the server reads them to tell an app it cannot
/// see from one that is gone).
pub const UNITS_PART: &str = "systemd units";
pub const DOCKER_PART: &str = "Docker containers";
/// The most items of one kind a snapshot holds (the server refuses more).
pub const MAX_ITEMS: usize = 5000;

/// Where the parts of an inventory come from.
#[derive(Debug, Clone)]
pub struct Sources {
    pub proc_root: PathBuf,
    /// The host's passwd file, for process owners.
    pub passwd: PathBuf,
    pub docker_socket: PathBuf,
}

/// Takes an inventory now. Each part that cannot be read is left empty and says why in
/// `errors`.
pub async fn take(sources: &Sources) -> proto::InventorySnapshot {
    let mut errors = Vec::new();
    let units = match systemd_units().await {
        Ok(units) => units,
        Err(e) => {
            errors.push(format!("{UNITS_PART}: {e}"));
            Vec::new()
        }
    };
    let (containers, compose_services) = if sources.docker_socket.exists() {
        match crate::docker::DockerClient::new(sources.docker_socket.clone())
            .list()
            .await
        {
            Ok(list) => containers_and_services(&list),
            Err(e) => {
                errors.push(format!("{DOCKER_PART}: {e}"));
                (Vec::new(), Vec::new())
            }
        }
    } else {
        (Vec::new(), Vec::new())
    };
    let (proc_root, passwd) = (sources.proc_root.clone(), sources.passwd.clone());
    let processes = tokio::task::spawn_blocking(move || processes(&proc_root, &passwd))
        .await
        .unwrap_or_default();
    proto::InventorySnapshot {
        units,
        containers,
        compose_services,
        processes,
        errors,
    }
}

/// What a snapshot says, without what changes on its own (process ids and counts), so a
/// restarted process is no change but a stopped one is.
pub fn fingerprint(s: &proto::InventorySnapshot) -> [u8; 32] {
    let mut hash = Sha256::new();
    let mut field = |parts: &[&str]| {
        for part in parts {
            hash.update((part.len() as u64).to_be_bytes());
            hash.update(part.as_bytes());
        }
    };
    for u in &s.units {
        field(&[
            "unit",
            &u.name,
            &u.load_state,
            &u.active_state,
            &u.sub_state,
        ]);
    }
    for c in &s.containers {
        field(&["container", &c.name, &c.image, &c.state]);
    }
    for c in &s.compose_services {
        field(&["compose", &c.project, &c.service, &c.state]);
    }
    for p in &s.processes {
        field(&["process", &p.exe, &p.user]);
    }
    for e in &s.errors {
        field(&["error", e]);
    }
    hash.finalize().into()
}

/// Runs until `events` closes: takes an inventory every `check`, sends it when it changed,
/// when `every` passed since the last one sent, or when `asked` is notified.
pub async fn watch(
    sources: Sources,
    every: Duration,
    check: Duration,
    asked: Arc<Notify>,
    events: mpsc::Sender<proto::Event>,
) {
    let mut last: Option<([u8; 32], tokio::time::Instant)> = None;
    let mut ticker = tokio::time::interval(check);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        let requested = tokio::select! {
            _ = ticker.tick() => false,
            _ = asked.notified() => true,
        };
        let snapshot = take(&sources).await;
        let print = fingerprint(&snapshot);
        let due = match last {
            None => true,
            Some((previous, sent_at)) => previous != print || sent_at.elapsed() >= every,
        };
        if !(due || requested) {
            continue;
        }
        tracing::debug!(
            units = snapshot.units.len(),
            containers = snapshot.containers.len(),
            processes = snapshot.processes.len(),
            requested,
            "inventory"
        );
        let event = proto::Event {
            time_ms: proto::clock::now_ms(),
            body: Some(proto::event::Body::Inventory(snapshot)),
        };
        if events.send(event).await.is_err() {
            return;
        }
        last = Some((print, tokio::time::Instant::now()));
    }
}

/// `systemctl list-units --all --output=json`: services, sockets and timers with their
/// states. Run by absolute path, with an empty environment and a timeout.
async fn systemd_units() -> anyhow::Result<Vec<proto::SystemdUnit>> {
    let Some(systemctl) = SYSTEMCTL.iter().map(Path::new).find(|p| p.exists()) else {
        anyhow::bail!("systemctl is not installed");
    };
    let run = tokio::process::Command::new(systemctl)
        .args([
            "list-units",
            "--all",
            "--type=service,socket,timer",
            "--output=json",
            "--no-pager",
            "--plain",
        ])
        .env_clear()
        .env("SYSTEMD_COLORS", "0")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(SYSTEMCTL_TIMEOUT, run)
        .await
        .map_err(|_| anyhow::anyhow!("systemctl took longer than 10 s"))??;
    if !out.status.success() {
        let why = String::from_utf8_lossy(&out.stderr);
        anyhow::bail!(
            "systemctl failed: {}",
            why.lines().next().unwrap_or("no reason given")
        );
    }
    parse_units(&out.stdout)
}

/// The JSON `systemctl list-units --output=json` prints.
pub fn parse_units(json: &[u8]) -> anyhow::Result<Vec<proto::SystemdUnit>> {
    #[derive(serde::Deserialize)]
    struct Unit {
        unit: String,
        #[serde(default)]
        load: String,
        #[serde(default)]
        active: String,
        #[serde(default)]
        sub: String,
        #[serde(default)]
        description: String,
    }
    let units: Vec<Unit> = serde_json::from_slice(json)
        .map_err(|e| anyhow::anyhow!("systemctl printed what is not its JSON: {e}"))?;
    let mut out: Vec<proto::SystemdUnit> = units
        .into_iter()
        .filter(|u| proto::identifier::check("systemd", &u.unit).is_ok())
        .map(|u| proto::SystemdUnit {
            name: u.unit,
            load_state: u.load,
            active_state: u.active,
            sub_state: u.sub,
            description: u.description.chars().take(256).collect(),
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out.truncate(MAX_ITEMS);
    Ok(out)
}

/// The containers by name, and the Compose services their labels name (running when any of
/// its containers runs).
pub fn containers_and_services(
    list: &[proto::Container],
) -> (Vec<proto::InventoryContainer>, Vec<proto::ComposeService>) {
    let mut containers: Vec<proto::InventoryContainer> = list
        .iter()
        .filter(|c| !c.name.is_empty())
        .map(|c| proto::InventoryContainer {
            name: c.name.clone(),
            image: c.image.clone(),
            state: c.state.clone(),
        })
        .collect();
    containers.sort_by(|a, b| a.name.cmp(&b.name));
    containers.truncate(MAX_ITEMS);
    let mut services: BTreeMap<(String, String), (bool, u32)> = BTreeMap::new();
    for c in list {
        if let (Some(project), Some(service)) =
            (c.labels.get(COMPOSE_PROJECT), c.labels.get(COMPOSE_SERVICE))
        {
            let entry = services
                .entry((project.clone(), service.clone()))
                .or_default();
            entry.0 |= c.state == "running";
            entry.1 += 1;
        }
    }
    let services = services
        .into_iter()
        .take(MAX_ITEMS)
        .map(|((project, service), (running, n))| proto::ComposeService {
            project,
            service,
            state: if running { "running" } else { "stopped" }.to_owned(),
            containers: n,
        })
        .collect();
    (containers, services)
}

/// Each executable that runs, once (its lowest pid, the owner of that process, how many
/// processes run it). Kernel threads and processes whose executable cannot be read (another
/// user's, when not root) are left out.
pub fn processes(proc_root: &Path, passwd: &Path) -> Vec<proto::InventoryProcess> {
    let Ok(entries) = std::fs::read_dir(proc_root) else {
        return Vec::new();
    };
    let users: HashMap<u32, String> = std::fs::read_to_string(passwd)
        .map(|t| parse_passwd(&t))
        .unwrap_or_default();
    let mut by_exe: BTreeMap<String, proto::InventoryProcess> = BTreeMap::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(exe) = std::fs::read_link(entry.path().join("exe")) else {
            continue;
        };
        let Some(exe) = exe.to_str() else { continue };
        // A replaced binary reads as "/usr/bin/x (deleted)": it is still that program.
        let exe = exe.strip_suffix(" (deleted)").unwrap_or(exe);
        if !exe.starts_with('/') {
            continue;
        }
        let uid = std::os::unix::fs::MetadataExt::uid(&match entry.metadata() {
            Ok(m) => m,
            Err(_) => continue,
        });
        let user = users.get(&uid).cloned().unwrap_or_else(|| uid.to_string());
        let item = by_exe
            .entry(exe.to_owned())
            .or_insert_with(|| proto::InventoryProcess {
                exe: exe.to_owned(),
                user: user.clone(),
                pid,
                count: 0,
            });
        item.count += 1;
        if pid < item.pid {
            item.pid = pid;
            item.user = user;
        }
    }
    by_exe.into_values().take(MAX_ITEMS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_systemctl_json_and_skips_names_that_are_not_units() {
        let json = br#"[
            {"unit":"nginx.service","load":"loaded","active":"active","sub":"running","description":"A web server"},
            {"unit":"backup.timer","load":"loaded","active":"inactive","sub":"dead","description":"Nightly"},
            {"unit":"bad name.service","load":"loaded","active":"active","sub":"running","description":""}
        ]"#;
        let units = parse_units(json).unwrap();
        let names: Vec<&str> = units.iter().map(|u| u.name.as_str()).collect();
        assert_eq!(names, ["backup.timer", "nginx.service"]);
        assert_eq!(units[1].sub_state, "running");
        assert!(parse_units(b"UNIT LOAD ACTIVE").is_err());
    }

    #[test]
    fn compose_services_come_from_the_labels() {
        let container = |name: &str, state: &str, project: Option<&str>| proto::Container {
            name: name.into(),
            state: state.into(),
            labels: project
                .map(|p| {
                    [
                        (COMPOSE_PROJECT.to_owned(), p.to_owned()),
                        (COMPOSE_SERVICE.to_owned(), "web".to_owned()),
                    ]
                    .into()
                })
                .unwrap_or_default(),
            ..Default::default()
        };
        let (containers, services) = containers_and_services(&[
            container("shop-web-1", "exited", Some("shop")),
            container("shop-web-2", "running", Some("shop")),
            container("solo", "running", None),
        ]);
        assert_eq!(containers.len(), 3);
        assert_eq!(services.len(), 1);
        assert_eq!(
            (services[0].project.as_str(), services[0].service.as_str()),
            ("shop", "web")
        );
        assert_eq!(
            (services[0].state.as_str(), services[0].containers),
            ("running", 2)
        );
    }

    #[test]
    fn this_process_is_in_the_inventory_and_pids_do_not_change_the_fingerprint() {
        let found = processes(Path::new("/proc"), Path::new("/etc/passwd"));
        let me = std::env::current_exe().unwrap();
        assert!(
            found.iter().any(|p| Path::new(&p.exe) == me),
            "{} not among {} executables",
            me.display(),
            found.len()
        );
        let mut snapshot = proto::InventorySnapshot {
            processes: found,
            ..Default::default()
        };
        let before = fingerprint(&snapshot);
        snapshot.processes[0].pid += 1000;
        snapshot.processes[0].count += 1;
        assert_eq!(fingerprint(&snapshot), before);
        snapshot.processes.pop();
        assert_ne!(fingerprint(&snapshot), before, "a process gone is a change");
    }
}

//! Test hosts in network namespaces, each joined to this machine by a veth pair.
use std::process::Command;

pub fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// A network namespace joined to the host by a veth pair: host side `.1`, namespace `.2`.
pub struct TestHost {
    pub namespace: String,
    pub host_link: String,
    pub gateway: String,
}

impl TestHost {
    pub fn create(tag: &str, subnet: u8) -> Result<TestHost, String> {
        let suffix = std::process::id() % 10_000;
        let namespace = format!("vt{tag}{suffix}");
        let host_link = format!("vth{tag}{suffix}");
        let peer = format!("vtp{tag}{suffix}");
        let gateway = format!("10.231.{subnet}.1");
        let host = TestHost {
            namespace: namespace.clone(),
            host_link: host_link.clone(),
            gateway: gateway.clone(),
        };
        ip(&["netns", "add", &namespace])?;
        ip(&[
            "link", "add", &host_link, "type", "veth", "peer", "name", &peer,
        ])?;
        ip(&["link", "set", &peer, "netns", &namespace])?;
        ip(&["addr", "add", &format!("{gateway}/24"), "dev", &host_link])?;
        ip(&["link", "set", &host_link, "up"])?;
        ip(&[
            "netns",
            "exec",
            &namespace,
            "ip",
            "addr",
            "add",
            &format!("10.231.{subnet}.2/24"),
            "dev",
            &peer,
        ])?;
        ip(&[
            "netns", "exec", &namespace, "ip", "link", "set", &peer, "up",
        ])?;
        ip(&["netns", "exec", &namespace, "ip", "link", "set", "lo", "up"])?;
        Ok(host)
    }

    pub fn set_link(&self, up: bool) {
        ip(&[
            "link",
            "set",
            &self.host_link,
            if up { "up" } else { "down" },
        ])
        .unwrap();
    }
}

impl Drop for TestHost {
    fn drop(&mut self) {
        // Deleting the namespace removes the veth pair with it.
        let _ = ip(&["netns", "del", &self.namespace]);
        let _ = ip(&["link", "del", &self.host_link]);
    }
}

/// Whether namespaces can be made here (root with iproute2).
pub fn namespaces_available() -> Result<(), String> {
    let probe = format!("vtprobe{}", std::process::id() % 10_000);
    ip(&["netns", "add", &probe])?;
    ip(&["netns", "del", &probe])
}

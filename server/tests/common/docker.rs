//! The real Docker engine for tests: the test image, built locally from Debian's static
//! busybox (nothing is pulled), and containers removed when dropped.
use std::process::{Command, Stdio};

/// The test image.
pub const IMAGE: &str = "vantage-test-busybox:1";

/// Builds the test image, or says why the Docker tests cannot run here.
pub fn docker_ready() -> Result<(), String> {
    let info = Command::new("docker")
        .arg("info")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !info.is_ok_and(|s| s.success()) {
        return Err("no Docker engine answers `docker info`".into());
    }
    let busybox = std::path::Path::new("/bin/busybox");
    if !busybox.exists() {
        return Err("/bin/busybox is missing (apt-get install busybox-static)".into());
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(busybox, dir.path().join("busybox")).unwrap();
    std::fs::write(
        dir.path().join("Dockerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\nENTRYPOINT [\"/bin/busybox\"]\n",
    )
    .unwrap();
    let built = Command::new("docker")
        .args(["build", "-q", "-t", IMAGE])
        .arg(dir.path())
        .output()
        .unwrap();
    if !built.status.success() {
        return Err(format!(
            "cannot build the test image: {}",
            String::from_utf8_lossy(&built.stderr)
        ));
    }
    Ok(())
}

pub struct Container(pub String);

impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rm", "-f", &self.0]).output();
    }
}

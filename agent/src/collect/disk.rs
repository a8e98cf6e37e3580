use std::collections::HashSet;

use super::ParseError;

/// One line of `/proc/<pid>/mountinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// `major:minor` of the backing device; bind mounts share it with their source.
    pub device_id: String,
    /// The directory inside the file system that is mounted (`/` unless a bind mount).
    pub root: String,
    pub mount_point: String,
    pub fs_type: String,
    pub source: String,
}

/// Size figures of one mounted file system, in bytes. `used + available` can be less
/// than `total`: the difference is reserved for root, as `df` shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FilesystemUsage {
    pub mount_point: String,
    pub device: String,
    pub fs_type: String,
    pub total_bytes: u64,
    pub used_bytes: u64,
    pub available_bytes: u64,
}

impl FilesystemUsage {
    /// The size `df` divides by: used plus available (the blocks reserved for root are in
    /// neither). Shown as the file system's size everywhere.
    pub fn size_bytes(&self) -> u64 {
        self.used_bytes.saturating_add(self.available_bytes)
    }

    /// Used share in percent, as `df` shows it: used ÷ (used + available).
    pub fn used_pct(&self) -> f64 {
        super::percent(self.used_bytes as f64, self.size_bytes() as f64)
    }
}

/// File system types that store data on a disk or a network share. Everything else
/// (proc, sysfs, tmpfs, overlay, squashfs, cgroup, ...) is not a place the operator fills up.
const REAL_FS_TYPES: &[&str] = &[
    "ext2",
    "ext3",
    "ext4",
    "xfs",
    "btrfs",
    "zfs",
    "f2fs",
    "jfs",
    "reiserfs",
    "bcachefs",
    "vfat",
    "exfat",
    "ntfs",
    "ntfs3",
    "fuseblk",
    "nfs",
    "nfs4",
    "cifs",
    "smb3",
    "ceph",
    "glusterfs",
];

/// Parses `/proc/<pid>/mountinfo` (see proc(5)); octal escapes such as `\040` are decoded.
pub fn parse_mountinfo(text: &str) -> Result<Vec<Mount>, ParseError> {
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let (before, after) = line
                .split_once(" - ")
                .ok_or_else(|| ParseError::new("mountinfo", format!("no separator in {line:?}")))?;
            let before: Vec<&str> = before.split(' ').collect();
            let mut after = after.split(' ');
            let (Some(device_id), Some(root), Some(mount_point)) =
                (before.get(2), before.get(3), before.get(4))
            else {
                return Err(ParseError::new(
                    "mountinfo",
                    format!("too few fields in {line:?}"),
                ));
            };
            let (Some(fs_type), Some(source)) = (after.next(), after.next()) else {
                return Err(ParseError::new(
                    "mountinfo",
                    format!("no file system type in {line:?}"),
                ));
            };
            Ok(Mount {
                device_id: (*device_id).to_owned(),
                root: unescape(root),
                mount_point: unescape(mount_point),
                fs_type: fs_type.to_owned(),
                source: unescape(source),
            })
        })
        .collect()
}

/// The mounts worth reporting: real file system types, each device once. When a device
/// is mounted several times (bind mounts), the mount of its root wins, then the shortest path.
pub fn real_mounts(mounts: &[Mount]) -> Vec<Mount> {
    let mut candidates: Vec<&Mount> = mounts
        .iter()
        .filter(|m| REAL_FS_TYPES.contains(&m.fs_type.as_str()))
        .collect();
    candidates.sort_by_key(|m| (m.root != "/", m.mount_point.len()));
    let mut seen = HashSet::new();
    let mut chosen: Vec<Mount> = candidates
        .into_iter()
        .filter(|m| seen.insert(m.device_id.clone()))
        .cloned()
        .collect();
    chosen.sort_by(|a, b| a.mount_point.cmp(&b.mount_point));
    chosen
}

fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let digits = bytes
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)));
        if let (b'\\', Some(d)) = (bytes[i], digits) {
            let code = d.iter().fold(0u32, |acc, b| acc * 8 + u32::from(b - b'0'));
            if let Ok(code) = u8::try_from(code) {
                out.push(code);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host_mounts() -> Vec<Mount> {
        parse_mountinfo(include_str!("../../tests/fixtures/mountinfo-host")).unwrap()
    }

    #[test]
    fn keeps_real_file_systems_once_each() {
        let points: Vec<String> = real_mounts(&host_mounts())
            .into_iter()
            .map(|m| m.mount_point)
            .collect();
        assert_eq!(
            points,
            vec!["/", "/boot/efi", "/mnt/nas", "/mnt/with space", "/srv/data"]
        );
    }

    #[test]
    fn bind_mount_of_root_device_is_dropped() {
        let real = real_mounts(&host_mounts());
        assert!(
            !real
                .iter()
                .any(|m| m.mount_point == "/var/lib/docker" || m.mount_point == "/srv/exports")
        );
    }

    #[test]
    fn pseudo_file_systems_are_dropped() {
        let real = real_mounts(&host_mounts());
        for pseudo in [
            "proc", "sysfs", "tmpfs", "overlay", "squashfs", "devtmpfs", "cgroup2",
        ] {
            assert!(!real.iter().any(|m| m.fs_type == pseudo), "{pseudo} kept");
        }
    }

    #[test]
    fn octal_escapes_are_decoded() {
        assert_eq!(unescape(r"/mnt/with\040space"), "/mnt/with space");
        assert_eq!(unescape(r"/trailing\04"), r"/trailing\04");
        assert_eq!(unescape("\\"), "\\");
    }

    #[test]
    fn malformed_lines_are_errors() {
        assert!(parse_mountinfo("22 28 0:21 / /proc rw\n").is_err());
        assert!(parse_mountinfo("22 28 - proc\n").is_err());
    }
}

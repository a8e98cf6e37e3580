//! The agent's own files (identity, spool segments, spool state), which a root agent must
//! never let another local user steer: directories writable by group or others are refused,
//! no symlink or non-regular file is followed, truncated or written through, and every file
//! the agent writes is created 0600.
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// `O_NOFOLLOW`: opening a symlink fails instead of opening what it points at.
fn no_follow() -> i32 {
    rustix::fs::OFlags::NOFOLLOW.bits() as i32
}

/// Why a state or spool directory cannot be trusted.
#[derive(Debug, thiserror::Error)]
pub enum DirError {
    #[error(
        "{path} is writable by other users (mode {mode:o}); run `chmod 700 {path}` and start again"
    )]
    TooOpen { path: String, mode: u32 },
    #[error(
        "{path} belongs to user {owner}, not to this agent's user or root; fix its owner and start again"
    )]
    Foreign { path: String, owner: u32 },
    #[error("{path} is not a directory")]
    NotADirectory { path: String },
    #[error("cannot read {path}: {source}")]
    Unreadable {
        path: String,
        source: std::io::Error,
    },
}

/// Refuses a directory that someone other than this agent's user (or root) could change:
/// wrong owner, or writable by group or others.
pub fn check_private_dir(dir: &Path) -> Result<(), DirError> {
    let path = dir.display().to_string();
    let metadata = std::fs::metadata(dir).map_err(|source| DirError::Unreadable {
        path: path.clone(),
        source,
    })?;
    if !metadata.is_dir() {
        return Err(DirError::NotADirectory { path });
    }
    let mode = metadata.permissions().mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(DirError::TooOpen { path, mode });
    }
    let me = rustix::process::geteuid().as_raw();
    if metadata.uid() != me && metadata.uid() != 0 {
        return Err(DirError::Foreign {
            path,
            owner: metadata.uid(),
        });
    }
    Ok(())
}

fn not_regular(path: &Path) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!(
            "{} is not a regular file; refusing to use it",
            path.display()
        ),
    )
}

/// Opens an existing regular file (never through a symlink), for reading or also writing.
pub fn open_regular(path: &Path, write: bool) -> std::io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .write(write)
        .custom_flags(no_follow())
        .open(path)
        .map_err(|e| {
            // ELOOP is what O_NOFOLLOW answers for a symlink.
            if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) {
                not_regular(path)
            } else {
                e
            }
        })?;
    if !file.metadata()?.is_file() {
        return Err(not_regular(path));
    }
    Ok(file)
}

/// Reads a regular file whole (never through a symlink).
pub fn read_regular(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    open_regular(path, false)?.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Creates a new file, mode 0600; fails if anything (a symlink too) has the name.
pub fn create_private(path: &Path, append: bool) -> std::io::Result<File> {
    OpenOptions::new()
        .write(true)
        .append(append)
        .create_new(true)
        .mode(0o600)
        .custom_flags(no_follow())
        .open(path)
}

/// Replaces `path` with `bytes` atomically: a fresh 0600 temporary file, synced, renamed over
/// it (a rename replaces a symlink itself, never what it points at).
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut temp = path.as_os_str().to_owned();
    temp.push(".tmp");
    let temp = Path::new(&temp);
    match std::fs::remove_file(temp) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut file = create_private(temp, false)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(temp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_are_never_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        let err = open_regular(&link, true).unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
        assert!(create_private(&link, true).is_err());
        write_private(&link, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(std::fs::read_to_string(&link).unwrap(), "new");
        assert!(!std::fs::symlink_metadata(&link).unwrap().is_symlink());
        let mode = std::fs::metadata(&link).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let fifo_like = dir.path().join("sub");
        std::fs::create_dir(&fifo_like).unwrap();
        assert!(open_regular(&fifo_like, false).is_err());
    }

    #[test]
    fn loose_directories_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        check_private_dir(dir.path()).unwrap();
        for mode in [0o770, 0o777, 0o702] {
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(mode)).unwrap();
            let err = check_private_dir(dir.path()).unwrap_err().to_string();
            assert!(err.contains("chmod 700"), "{err}");
        }
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        check_private_dir(dir.path()).unwrap();
    }
}

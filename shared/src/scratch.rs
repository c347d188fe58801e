//! The process's scratch folder: every temporary file and folder HiLite makes (a download on
//! its way to the media store, a render's work files, a short on its way to a platform) lives
//! in one folder per process, `$TMPDIR/hilite-work-XXXXXX`, and nowhere else. It is not a
//! cache: nothing in it outlives the step that made it.
//!
//! Why one folder: a temporary file is removed when its handle drops, which a process killed
//! mid-step (SIGKILL, the OOM killer, a Lambda timeout, a power cut) never does. Each left-over
//! file can be a whole clip, so a worker restarted after a few kills fills the disk (Lambda's
//! `/tmp` is 512 MB unless configured otherwise). The folder holds `lock`, locked (`flock`)
//! for the life of the process; the kernel releases the lock when the process dies, however it
//! dies. The first use of the folder in a process removes every other `hilite-work-*` folder
//! in `$TMPDIR` whose lock it can take: those of processes that are gone. Folders of running
//! processes stay locked and are left alone.
//!
//! Written here, on top of `tempfile`: it removes on drop only, which a killed process never
//! reaches. Telling a dead process's folder from a live one's takes only the lock, which is the
//! standard library's (`File::try_lock`).

use std::fs::File;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use tempfile::{NamedTempFile, TempDir};

/// The folder name's prefix; the sweep only looks at folders named so.
const PREFIX: &str = "hilite-work-";
/// The lock file in each folder.
const LOCK: &str = "lock";

struct Scratch {
    path: PathBuf,
    /// Held open, and locked, until the process ends.
    _lock: File,
}

static SCRATCH: OnceLock<Scratch> = OnceLock::new();
static CREATING: Mutex<()> = Mutex::new(());

/// The process's scratch folder, made (and the folders of dead processes removed) on first use.
pub fn dir() -> io::Result<&'static Path> {
    if let Some(s) = SCRATCH.get() {
        return Ok(&s.path);
    }
    let _creating = CREATING.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(s) = SCRATCH.get() {
        return Ok(&s.path);
    }
    let parent = std::env::temp_dir();
    let scratch = create_in(&parent)?;
    let swept = sweep(&parent, &scratch.path);
    if swept > 0 {
        tracing::info!(
            folders = swept,
            dir = %parent.display(),
            "removed the scratch folders of HiLite processes that died"
        );
    }
    tracing::debug!(dir = %scratch.path.display(), "scratch folder");
    Ok(&SCRATCH.get_or_init(|| scratch).path)
}

/// Remove the process's scratch folder, at the very end of a process that ends normally (after
/// its async runtime, and the tasks with temporary files in it, are gone). A process that
/// never calls it leaves its folder to the next one's sweep.
pub fn remove() {
    if let Some(s) = SCRATCH.get() {
        if let Err(e) = std::fs::remove_dir_all(&s.path) {
            tracing::debug!(dir = %s.path.display(), error = %e, "cannot remove the scratch folder");
        }
    }
}

/// A temporary file in the scratch folder, removed when dropped.
pub fn file(prefix: &str, suffix: &str) -> io::Result<NamedTempFile> {
    tempfile::Builder::new()
        .prefix(prefix)
        .suffix(suffix)
        .tempfile_in(dir()?)
}

/// A temporary folder in the scratch folder, removed (with what it holds) when dropped.
pub fn folder(prefix: &str) -> io::Result<TempDir> {
    tempfile::Builder::new().prefix(prefix).tempdir_in(dir()?)
}

/// Make a locked scratch folder in `parent`. It is made under a hidden name and renamed once
/// its lock is held, so a sweep in another process never sees it unlocked.
fn create_in(parent: &Path) -> io::Result<Scratch> {
    let staged = tempfile::Builder::new()
        .prefix(&format!(".{PREFIX}"))
        .tempdir_in(parent)?;
    let lock = File::create(staged.path().join(LOCK))?;
    lock.try_lock().map_err(io::Error::from)?;
    let name = staged
        .path()
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix('.'))
        .ok_or_else(|| io::Error::other("the staged scratch folder has no name"))?
        .to_owned();
    let path = parent.join(name);
    std::fs::rename(staged.path(), &path)?;
    // Renamed away: the guard must not remove the path it was made at, now someone else's.
    let _ = staged.keep();
    Ok(Scratch { path, _lock: lock })
}

/// Remove the scratch folders in `parent` whose process is gone (their lock can be taken),
/// leaving `own` and anything not plainly ours: symbolic links, other users' folders.
/// Returns how many were removed; what cannot be read or removed is logged and left.
fn sweep(parent: &Path, own: &Path) -> usize {
    let Ok(uid) = std::fs::metadata(own).map(|m| m.uid()) else {
        return 0;
    };
    let entries = match std::fs::read_dir(parent) {
        Ok(entries) => entries,
        Err(e) => {
            tracing::warn!(dir = %parent.display(), error = %e, "cannot list the temporary folder to remove abandoned scratch folders");
            return 0;
        }
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        let ours = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(PREFIX));
        if !ours || path == own {
            continue;
        }
        // Not followed: a link named like ours is not ours to empty.
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() && m.uid() == uid => {}
            _ => continue,
        }
        let lock = match File::open(path.join(LOCK)) {
            Ok(lock) => lock,
            Err(e) => {
                // Every folder is renamed into place with its lock file: one without is
                // not a scratch folder, or was tampered with. Leave it.
                tracing::debug!(dir = %path.display(), error = %e, "no readable lock file; left");
                continue;
            }
        };
        if lock.try_lock().is_err() {
            // Locked: its process runs (or the lock cannot be tested): not ours to remove.
            continue;
        }
        // Removed while holding the lock, so no two sweeps race on one folder's contents.
        match std::fs::remove_dir_all(&path) {
            Ok(()) => removed += 1,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(dir = %path.display(), error = %e, "cannot remove an abandoned scratch folder")
            }
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_use_removes_only_the_folders_of_dead_processes() {
        let tmp = tempfile::tempdir().unwrap();
        let parent = tmp.path();

        // A process that died: its folder and lock file are there, unlocked.
        let dead = create_in(parent).unwrap();
        let dead_path = dead.path.clone();
        std::fs::write(dead_path.join("hilite-post-x.mp4"), vec![0u8; 4096]).unwrap();
        drop(dead);
        // A running process: its lock is held (by another open file, as another process
        // would hold it: `flock` locks conflict between open files, not only processes).
        let alive = create_in(parent).unwrap();
        std::fs::write(alive.path.join("work.mp4"), b"in use").unwrap();
        // Not ours: a link named like a scratch folder, to a folder that must keep its files,
        // another name, and a folder named like ours without a lock file.
        let target = parent.join("elsewhere");
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("keep.txt"), b"keep").unwrap();
        std::os::unix::fs::symlink(&target, parent.join("hilite-work-link")).unwrap();
        std::fs::create_dir(parent.join("hilite-render-abc")).unwrap();
        std::fs::create_dir(parent.join("hilite-work-nolock")).unwrap();

        let own = create_in(parent).unwrap();
        assert_eq!(sweep(parent, &own.path), 1);

        assert!(!dead_path.exists(), "the dead process's folder is removed");
        assert!(
            alive.path.join("work.mp4").is_file(),
            "a live folder is kept"
        );
        assert!(
            own.path.join(LOCK).is_file(),
            "the sweeper's own folder is kept"
        );
        assert!(target.join("keep.txt").is_file(), "a link is not followed");
        assert!(parent.join("hilite-work-link").exists());
        assert!(parent.join("hilite-render-abc").is_dir());
        assert!(parent.join("hilite-work-nolock").is_dir());

        // The live one dies too: the next sweep takes it, and only it.
        let alive_path = alive.path.clone();
        drop(alive);
        assert_eq!(sweep(parent, &own.path), 1);
        assert!(!alive_path.exists());
        assert!(own.path.is_dir());
    }

    #[test]
    fn a_folder_is_published_with_its_lock_held_and_no_staged_name_left() {
        let tmp = tempfile::tempdir().unwrap();
        let s = create_in(tmp.path()).unwrap();
        let name = s.path.file_name().unwrap().to_str().unwrap().to_owned();
        assert!(name.starts_with(PREFIX), "{name}");
        let other = File::open(s.path.join(LOCK)).unwrap();
        assert!(
            other.try_lock().is_err(),
            "the lock is held while the folder lives"
        );
        let names: Vec<_> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from(name)]);
    }

    #[test]
    fn files_and_folders_are_made_in_the_scratch_folder() {
        let d = dir().unwrap();
        assert!(d.join(LOCK).is_file());
        let f = file("hilite-test-", ".bin").unwrap();
        assert_eq!(f.path().parent(), Some(d));
        let g = folder("hilite-test-").unwrap();
        assert_eq!(g.path().parent(), Some(d));
        assert_eq!(dir().unwrap(), d, "one folder per process");
    }
}

//! The spool: where a delivery goes when storage cannot take it in time and
//! Kakao will not send it again (the admin-key webhooks promise no resend).
//! It is appended to a local file, fsync'd, and only then answered `200`;
//! the family replays it into the database, in order, as soon as storage
//! answers again. Replaying is idempotent (every event has its dedupe key),
//! so a crash between storing and trimming the file repeats nothing.
//!
//! One process per `SPOOL_DIR`: the folder and its lock are taken on the
//! first delivery spooled (or at start when entries are left from before), so
//! a server that never needs it leaves nothing behind.

use std::{
    collections::{BTreeMap, VecDeque},
    fs::{File, OpenOptions},
    io::{BufRead, BufReader, Read, Seek, SeekFrom, Write},
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use serde::{Deserialize, Serialize};

const FILE: &str = "spool.jsonl";

/// How long a delivery may wait in the spool before `/ready` fails and the
/// `spool` alert is raised: storage answers again by then, or the replay is
/// stuck.
pub const GRACE: std::time::Duration = std::time::Duration::from_secs(60);
const LOCK: &str = "spool.lock";

/// One delivery, as received: enough to build its event again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spooled {
    /// The family (`unlink`, `channel`, `share`).
    pub family: String,
    /// When it arrived (Unix ms): its time, when Kakao sends none.
    pub received_at: i64,
    /// `X-Kakao-Resource-ID`, when the family has one.
    pub resource_id: Option<String>,
    pub params: BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("the spool in {dir} is full ({max} bytes, SPOOL_MAX_BYTES)")]
    Full { dir: String, max: u64 },
    #[error("another process holds the spool in {0} (give each instance its own SPOOL_DIR)")]
    Taken(String),
    #[error("cannot write the spool in {dir}")]
    Io {
        dir: String,
        #[source]
        source: std::io::Error,
    },
}

struct Open {
    file: File,
    _lock: File,
    bytes: u64,
    /// When each waiting entry arrived, oldest first.
    waiting: VecDeque<i64>,
}

pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    open: Mutex<Option<Open>>,
}

impl Spool {
    pub fn new(dir: PathBuf, max_bytes: u64) -> Self {
        Self {
            dir,
            max_bytes,
            open: Mutex::new(None),
        }
    }

    fn shown(&self) -> String {
        self.dir.display().to_string()
    }

    fn io(&self, source: std::io::Error) -> SpoolError {
        SpoolError::Io {
            dir: self.shown(),
            source,
        }
    }

    /// Checked at start-up, so that a spool that could not be written is
    /// found before an outage needs it: the folder, or the nearest folder
    /// above it that exists, takes writes.
    pub fn check(&self) -> Result<(), SpoolError> {
        let existing = self
            .dir
            .ancestors()
            .find(|dir| dir.as_os_str().is_empty() || dir.exists())
            .map(|dir| {
                if dir.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    dir
                }
            })
            .unwrap_or(Path::new("."));
        let writable = std::fs::metadata(existing)
            .is_ok_and(|meta| meta.is_dir() && !meta.permissions().readonly());
        if writable {
            Ok(())
        } else {
            Err(self.io(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!("{} cannot be written", existing.display()),
            )))
        }
    }

    /// Whether entries were left from before (a restart after an outage).
    pub fn left_from_before(&self) -> bool {
        std::fs::metadata(self.dir.join(FILE)).is_ok_and(|meta| meta.len() > 0)
    }

    /// The folder, its lock and the file, opened once.
    fn opened<'a>(&self, open: &'a mut Option<Open>) -> Result<&'a mut Open, SpoolError> {
        if open.is_none() {
            std::fs::create_dir_all(&self.dir).map_err(|e| self.io(e))?;
            let lock = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(self.dir.join(LOCK))
                .map_err(|e| self.io(e))?;
            match lock.try_lock() {
                Ok(()) => {}
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(SpoolError::Taken(self.shown()));
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(self.io(e)),
            }
            let mut file = OpenOptions::new()
                .create(true)
                .append(true)
                .read(true)
                .open(self.dir.join(FILE))
                .map_err(|e| self.io(e))?;
            let bytes = file.seek(SeekFrom::End(0)).map_err(|e| self.io(e))?;
            let waiting = read_entries(&self.dir.join(FILE))
                .map_err(|e| self.io(e))?
                .iter()
                .map(|entry| entry.received_at)
                .collect();
            *open = Some(Open {
                file,
                _lock: lock,
                bytes,
                waiting,
            });
        }
        Ok(open.as_mut().expect("opened above"))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Open>> {
        self.open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Appends `entry` and makes it durable (fsync) before returning.
    pub fn append(&self, entry: &Spooled) -> Result<(), SpoolError> {
        let mut line = serde_json::to_vec(entry).expect("a spooled delivery is JSON");
        line.push(b'\n');
        let mut guard = self.lock();
        let open = self.opened(&mut guard)?;
        if open.bytes + line.len() as u64 > self.max_bytes {
            return Err(SpoolError::Full {
                dir: self.shown(),
                max: self.max_bytes,
            });
        }
        open.file.write_all(&line).map_err(|e| self.io(e))?;
        open.file.sync_data().map_err(|e| self.io(e))?;
        open.bytes += line.len() as u64;
        open.waiting.push_back(entry.received_at);
        Ok(())
    }

    /// Entries waiting, and when the oldest arrived (ms).
    pub fn waiting(&self) -> (usize, Option<i64>) {
        let guard = self.lock();
        guard.as_ref().map_or((0, None), |open| {
            (open.waiting.len(), open.waiting.front().copied())
        })
    }

    /// The entries waiting, oldest first (unreadable lines, a write cut off
    /// by a crash before its `200`, are skipped).
    pub fn entries(&self) -> Result<Vec<Spooled>, SpoolError> {
        let mut guard = self.lock();
        self.opened(&mut guard)?;
        read_entries(&self.dir.join(FILE)).map_err(|e| self.io(e))
    }

    /// Drops the first `done` entries (stored), keeping what was appended
    /// since they were read: the rest is written to a new file, fsync'd and
    /// renamed over the old one.
    pub fn trim(&self, done: usize) -> Result<(), SpoolError> {
        if done == 0 {
            return Ok(());
        }
        let path = self.dir.join(FILE);
        let mut guard = self.lock();
        let open = self.opened(&mut guard)?;
        let mut kept = Vec::new();
        let mut reader = BufReader::new(File::open(&path).map_err(|e| self.io(e))?);
        let mut line = Vec::new();
        let mut seen = 0;
        loop {
            line.clear();
            let n = reader
                .read_until(b'\n', &mut line)
                .map_err(|e| self.io(e))?;
            if n == 0 {
                break;
            }
            // Unreadable lines were skipped by the replay: dropped here.
            if parse(&line).is_none() {
                continue;
            }
            seen += 1;
            if seen > done {
                kept.extend_from_slice(&line);
            }
        }
        let fresh = self.dir.join(format!("{FILE}.new"));
        let mut file = File::create(&fresh).map_err(|e| self.io(e))?;
        file.write_all(&kept).map_err(|e| self.io(e))?;
        file.sync_all().map_err(|e| self.io(e))?;
        std::fs::rename(&fresh, &path).map_err(|e| self.io(e))?;
        if let Ok(dir) = File::open(&self.dir) {
            let _ = dir.sync_all();
        }
        open.file = OpenOptions::new()
            .append(true)
            .read(true)
            .open(&path)
            .map_err(|e| self.io(e))?;
        open.bytes = kept.len() as u64;
        for _ in 0..done.min(open.waiting.len()) {
            open.waiting.pop_front();
        }
        Ok(())
    }
}

fn parse(line: &[u8]) -> Option<Spooled> {
    serde_json::from_slice(line.strip_suffix(b"\n")?).ok()
}

fn read_entries(path: &Path) -> std::io::Result<Vec<Spooled>> {
    let mut text = Vec::new();
    match File::open(path) {
        Ok(mut file) => {
            file.read_to_end(&mut text)?;
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(err),
    }
    let entries: Vec<Spooled> = text
        .split_inclusive(|b| *b == b'\n')
        .filter_map(|line| {
            let entry = parse(line);
            if entry.is_none() {
                tracing::warn!(
                    "spool: an unreadable line (a write cut off before its 200) is skipped"
                );
            }
            entry
        })
        .collect();
    Ok(entries)
}

/// The spool shared by a server's handlers and its replay worker.
pub type SharedSpool = Arc<Spool>;

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: i64) -> Spooled {
        Spooled {
            family: "unlink".into(),
            received_at: n,
            resource_id: None,
            params: BTreeMap::from([("user_id".into(), n.to_string())]),
        }
    }

    #[test]
    fn entries_survive_a_reopen_and_trim_keeps_what_came_after() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::new(dir.path().join("spool"), 1 << 20);
        assert!(!spool.left_from_before());
        for n in 1..=3 {
            spool.append(&entry(n)).unwrap();
        }
        assert_eq!(spool.waiting(), (3, Some(1)));
        let read = spool.entries().unwrap();
        spool.append(&entry(4)).unwrap();
        spool.trim(read.len()).unwrap();
        assert_eq!(spool.entries().unwrap(), vec![entry(4)]);
        assert_eq!(spool.waiting(), (1, Some(4)));
        drop(spool);

        let again = Spool::new(dir.path().join("spool"), 1 << 20);
        assert!(again.left_from_before());
        assert_eq!(again.entries().unwrap(), vec![entry(4)]);
        assert_eq!(again.waiting(), (1, Some(4)));
    }

    #[test]
    fn a_full_spool_and_a_taken_one_refuse() {
        let dir = tempfile::tempdir().unwrap();
        let small = Spool::new(dir.path().join("a"), 100);
        small.append(&entry(1)).unwrap();
        assert!(matches!(
            small.append(&entry(2)),
            Err(SpoolError::Full { .. })
        ));
        let other = Spool::new(dir.path().join("a"), 100);
        assert!(matches!(other.append(&entry(3)), Err(SpoolError::Taken(_))));
    }

    #[test]
    fn a_line_cut_off_by_a_crash_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::new(dir.path().to_path_buf(), 1 << 20);
        spool.append(&entry(1)).unwrap();
        drop(spool);
        let mut file = OpenOptions::new()
            .append(true)
            .open(dir.path().join(FILE))
            .unwrap();
        file.write_all(br#"{"family":"unl"#).unwrap();
        let spool = Spool::new(dir.path().to_path_buf(), 1 << 20);
        assert_eq!(spool.entries().unwrap(), vec![entry(1)]);
    }
}

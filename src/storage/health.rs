//! What the database can do now, judged once for `/ready` and the
//! console's health page, so the two never disagree. It reads this
//! instance's own view: a database that takes no writes cannot hold the
//! alert row that would otherwise say so.

use std::time::Duration;

use super::Storage;
use crate::telemetry::Chain;

/// A check slower than this counts as failing.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// The database as an operator needs to know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseHealth {
    Ok,
    /// It does not answer, or answers with errors.
    Failing,
    /// It answers reads and takes no writes: a replica, a read-only file,
    /// or a file system the kernel stopped after an error.
    ReadOnly,
    /// SQLite's disk is full: reads work, every write fails.
    Full,
}

impl DatabaseHealth {
    /// `/ready`'s `database` field.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Failing => "failing",
            Self::ReadOnly => "read_only",
            Self::Full => "full",
        }
    }
}

impl Storage {
    /// Pings, then asks whether writes are taken and whether the disk is
    /// full; a check slower than two seconds counts as failing.
    pub async fn health(&self) -> DatabaseHealth {
        let timeout = CHECK_TIMEOUT;
        match tokio::time::timeout(timeout, self.ping()).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => {
                tracing::warn!(error = %Chain(&err), "readiness: database failing");
                return DatabaseHealth::Failing;
            }
            Err(_) => {
                tracing::warn!("readiness: database did not answer in time");
                return DatabaseHealth::Failing;
            }
        }
        let writable = match tokio::time::timeout(timeout, self.writable()).await {
            Ok(Ok(writable)) => writable,
            Ok(Err(err)) => {
                tracing::warn!(error = %Chain(&err), "readiness: cannot tell whether the database takes writes");
                false
            }
            Err(_) => false,
        };
        if !writable {
            tracing::error!(
                "readiness: the database is read-only; every webhook is refused until it takes writes (a file system the kernel made read-only needs fsck and a restart)"
            );
            return DatabaseHealth::ReadOnly;
        }
        if self.disk_space().is_some_and(|space| space.full()) {
            tracing::error!(
                "readiness: the database's disk is full; every webhook is refused until space is freed"
            );
            return DatabaseHealth::Full;
        }
        DatabaseHealth::Ok
    }
}

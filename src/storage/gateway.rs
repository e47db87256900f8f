//! The Bot API gateway's session (`bot_gateway`), and the lease that lets
//! one instance at a time hold the gateway connection: Kakao allows one per
//! bot token and closes the older with 4004 when a second identifies.
//!
//! On PostgreSQL the lease is a session-level advisory lock held on a
//! dedicated connection: it ends when that connection does (the instance
//! died or lost the database), and another instance takes it. SQLite has one
//! process per file: the lease is an exclusive lock on a file beside the
//! database, refused at once to a second process.

use std::path::PathBuf;

use sqlx::{Connection, PgConnection};

use super::{Backend, Storage, StorageError, in_write_tx, with_pool};
use crate::clock::now_millis;

/// The row of the one bot this service runs.
const GATEWAY: &str = "bot";
/// The advisory lock key of the gateway lease (any constant of ours).
const GATEWAY_LOCK: i64 = 7438202;

/// What a restarted client resumes with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewaySession {
    pub session_id: String,
    /// The `s` of the last DISPATCH stored.
    pub seq: Option<i64>,
}

/// Held while this instance may run the gateway client.
pub enum GatewayLease {
    Postgres(PgConnection),
    /// Held: the lock lasts as long as the file is open.
    Sqlite(std::fs::File),
}

impl GatewayLease {
    /// Whether the lease still holds (PostgreSQL: the lock's connection answers).
    pub async fn holds(&mut self) -> bool {
        match self {
            // A connection that does not answer within a check's time is lost.
            Self::Postgres(connection) => {
                tokio::time::timeout(std::time::Duration::from_secs(2), connection.ping())
                    .await
                    .is_ok_and(|pinged| pinged.is_ok())
            }
            Self::Sqlite(_) => true,
        }
    }
}

/// Why no lease was had.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error(
        "another kakao-webhooks process runs the bot gateway on this SQLite database ({0}); Kakao allows one connection per bot token. Stop it, or use PostgreSQL for several instances"
    )]
    SqliteTaken(String),
    #[error("cannot lock {path}")]
    LockFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl Storage {
    /// The lease, if no other instance holds it (`Ok(None)`: try again later;
    /// on SQLite another process holding it is an error).
    pub async fn try_gateway_lease(&self) -> Result<Option<GatewayLease>, LeaseError> {
        match &self.backend {
            Backend::Postgres { pool, .. } => {
                let options = pool.connect_options();
                let connect = PgConnection::connect_with(&options);
                let mut connection =
                    tokio::time::timeout(super::postgres::CONNECT_TIMEOUT, connect)
                        .await
                        .map_err(|_| StorageError::Connect(sqlx::Error::PoolTimedOut))?
                        .map_err(StorageError::Connect)?;
                let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                    .bind(GATEWAY_LOCK)
                    .fetch_one(&mut connection)
                    .await
                    .map_err(StorageError::from)?;
                Ok(locked.then_some(GatewayLease::Postgres(connection)))
            }
            Backend::Sqlite { pool, .. } => {
                let mut path: PathBuf = pool.connect_options().get_filename().to_path_buf();
                path.as_mut_os_string().push(".gateway-lock");
                let shown = path.display().to_string();
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(&path)
                    .map_err(|source| LeaseError::LockFile {
                        path: shown.clone(),
                        source,
                    })?;
                match file.try_lock() {
                    Ok(()) => Ok(Some(GatewayLease::Sqlite(file))),
                    Err(std::fs::TryLockError::WouldBlock) => Err(LeaseError::SqliteTaken(shown)),
                    Err(std::fs::TryLockError::Error(source)) => Err(LeaseError::LockFile {
                        path: shown,
                        source,
                    }),
                }
            }
        }
    }

    pub async fn gateway_session(&self) -> Result<Option<GatewaySession>, StorageError> {
        const SQL: &str =
            "SELECT session_id, seq FROM bot_gateway WHERE gateway = $1 AND session_id IS NOT NULL";
        let row: Option<(String, Option<i64>)> = with_pool!(self, |pool| {
            sqlx::query_as(SQL)
                .bind(GATEWAY)
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(|(session_id, seq)| GatewaySession { session_id, seq }))
    }

    /// A new session from READY; its sequence starts afresh unless it is
    /// the session already stored (a successful RESUME).
    pub async fn save_gateway_session(&self, session_id: &str) -> Result<(), StorageError> {
        const SQL: &str = "INSERT INTO bot_gateway (gateway, session_id, seq, updated_at)
            VALUES ($1, $2, NULL, $3)
            ON CONFLICT (gateway) DO UPDATE SET
                seq = CASE WHEN bot_gateway.session_id = excluded.session_id
                           THEN bot_gateway.seq END,
                session_id = excluded.session_id, updated_at = excluded.updated_at";
        in_write_tx!(self, |tx| {
            sqlx::query(SQL)
                .bind(GATEWAY)
                .bind(session_id)
                .bind(now_millis())
                .execute(&mut *tx)
                .await?;
        });
        Ok(())
    }

    /// The `s` of a DISPATCH whose event is stored.
    pub async fn save_gateway_seq(&self, seq: i64) -> Result<(), StorageError> {
        const SQL: &str = "UPDATE bot_gateway SET seq = $2, updated_at = $3 WHERE gateway = $1";
        in_write_tx!(self, |tx| {
            sqlx::query(SQL)
                .bind(GATEWAY)
                .bind(seq)
                .bind(now_millis())
                .execute(&mut *tx)
                .await?;
        });
        Ok(())
    }

    /// After 4009 or a failed RESUME: the next connection IDENTIFIES.
    pub async fn clear_gateway_session(&self) -> Result<(), StorageError> {
        const SQL: &str = "UPDATE bot_gateway SET session_id = NULL, seq = NULL, updated_at = $2 WHERE gateway = $1";
        in_write_tx!(self, |tx| {
            sqlx::query(SQL)
                .bind(GATEWAY)
                .bind(now_millis())
                .execute(&mut *tx)
                .await?;
        });
        Ok(())
    }
}

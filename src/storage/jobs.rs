//! Durable background jobs: claimed with a lease (and `SKIP LOCKED` on
//! PostgreSQL, so instances sharing a database never run the same job at
//! once), deleted when done, retried later when they fail.

use sqlx::FromRow;

use super::{Storage, StorageError, in_write_tx, model::now_millis};

/// The kind of the profile refresh job.
pub const PROFILE_REFRESH: &str = "refresh_profile";

/// A claimed job.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct Job {
    pub job_id: i64,
    pub user_id: String,
    pub generation: i64,
    /// Attempts so far, this one included.
    pub attempts: i64,
}

const CLAIM_SQLITE: &str = "
    UPDATE jobs SET run_at = $2, attempts = attempts + 1
    WHERE job_id = (SELECT job_id FROM jobs WHERE kind = $1 AND run_at <= $3
                    ORDER BY run_at, job_id LIMIT 1)
    RETURNING job_id, user_id, generation, attempts";

const CLAIM_POSTGRES: &str = "
    UPDATE jobs SET run_at = $2, attempts = attempts + 1
    WHERE job_id = (SELECT job_id FROM jobs WHERE kind = $1 AND run_at <= $3
                    ORDER BY run_at, job_id LIMIT 1 FOR UPDATE SKIP LOCKED)
    RETURNING job_id, user_id, generation, attempts";

impl Storage {
    /// Claims the next due job of `kind` until `lease_until` (ms); another
    /// worker may take it after that, if this one died.
    pub async fn claim_job(
        &self,
        kind: &str,
        lease_until: i64,
    ) -> Result<Option<Job>, StorageError> {
        let now = now_millis();
        let sql = match self {
            Storage::Sqlite(..) => CLAIM_SQLITE,
            Storage::Postgres(..) => CLAIM_POSTGRES,
        };
        Ok(in_write_tx!(self, |tx| {
            sqlx::query_as(sql)
                .bind(kind)
                .bind(lease_until)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?
        }))
    }

    /// Done: removed, unless it was asked for again since it was claimed.
    pub async fn finish_job(&self, job: &Job) -> Result<(), StorageError> {
        const SQL: &str = "DELETE FROM jobs WHERE job_id = $1 AND generation = $2";
        in_write_tx!(self, |tx| {
            sqlx::query(SQL)
                .bind(job.job_id)
                .bind(job.generation)
                .execute(&mut *tx)
                .await?;
        });
        Ok(())
    }

    /// Failed: due again at `run_at` (ms), with the reason kept.
    pub async fn retry_job(&self, job: &Job, run_at: i64, error: &str) -> Result<(), StorageError> {
        const SQL: &str =
            "UPDATE jobs SET run_at = $3, last_error = $4 WHERE job_id = $1 AND generation = $2";
        in_write_tx!(self, |tx| {
            sqlx::query(SQL)
                .bind(job.job_id)
                .bind(job.generation)
                .bind(run_at)
                .bind(error)
                .execute(&mut *tx)
                .await?;
        });
        Ok(())
    }

    /// Pending jobs of `kind` (for readiness and tests).
    pub async fn pending_jobs(&self, kind: &str) -> Result<i64, StorageError> {
        const SQL: &str = "SELECT COUNT(*) FROM jobs WHERE kind = $1";
        Ok(super::with_pool!(self, |pool| {
            sqlx::query_scalar(SQL).bind(kind).fetch_one(pool).await?
        }))
    }

    /// Stores a profile Kakao returned, fetched at `fetched_at` (ms): it is
    /// newer than any change before that moment, and clears the stale flag
    /// unless the profile changed again since.
    pub async fn apply_profile(
        &self,
        user_id: &str,
        email: Option<&str>,
        phone_number: Option<&str>,
        fetched_at: i64,
    ) -> Result<(), StorageError> {
        const EMAIL: &str = "
            UPDATE users SET email = $2, email_event_at = $3, updated_at = $4
            WHERE user_id = $1 AND status = 'linked'
              AND (email_event_at IS NULL OR email_event_at <= $3)";
        const PHONE: &str = "
            UPDATE users SET phone_number = $2, phone_event_at = $3, updated_at = $4
            WHERE user_id = $1 AND status = 'linked'
              AND (phone_event_at IS NULL OR phone_event_at <= $3)";
        const FRESH: &str = "
            UPDATE users SET profile_stale = FALSE, updated_at = $3
            WHERE user_id = $1 AND (profile_event_at IS NULL OR profile_event_at <= $2)";
        let now = now_millis();
        in_write_tx!(self, |tx| {
            for (sql, value) in [(EMAIL, email), (PHONE, phone_number)] {
                sqlx::query(sql)
                    .bind(user_id)
                    .bind(value)
                    .bind(fetched_at)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query(FRESH)
                .bind(user_id)
                .bind(fetched_at)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        });
        Ok(())
    }
}

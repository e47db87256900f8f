//! Durable background jobs: claimed with a lease (and `SKIP LOCKED` on
//! PostgreSQL, so instances sharing a database never run the same job at
//! once), deleted when done, retried later when they fail.

use sqlx::FromRow;

use super::{Storage, StorageError, in_write_tx};
use crate::{clock::now_millis, ids::UserId};

/// The kind of the profile refresh job.
pub const PROFILE_REFRESH: &str = "refresh_profile";

/// A claimed job.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct Job {
    pub job_id: i64,
    #[sqlx(try_from = "String")]
    pub user_id: UserId,
    pub generation: i64,
    /// Attempts so far, this one included.
    pub attempts: i64,
}

/// Claims the next due job; `$lock` is PostgreSQL's `FOR UPDATE SKIP
/// LOCKED`, so instances sharing the database never claim the same one.
/// SQLite needs none: it has one writer at a time, so the subquery's row
/// cannot be claimed by another in between.
macro_rules! claim_job {
    ($lock:literal) => {
        concat!(
            "UPDATE jobs SET run_at = $2, attempts = attempts + 1
             WHERE job_id = (SELECT job_id FROM jobs WHERE kind = $1 AND run_at <= $3
                             ORDER BY run_at, job_id LIMIT 1 ",
            $lock,
            ")
             RETURNING job_id, user_id, generation, attempts"
        )
    };
}

impl Storage {
    /// Claims the next due job of `kind` until `lease_until` (ms); another
    /// worker may take it after that, if this one died.
    pub async fn claim_job(
        &self,
        kind: &str,
        lease_until: i64,
    ) -> Result<Option<Job>, StorageError> {
        let now = now_millis();
        let sql = self.dialect(claim_job!(""), claim_job!("FOR UPDATE SKIP LOCKED"));
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

    /// Pending jobs of `kind` (the `kakao_jobs_pending` gauge).
    pub async fn pending_jobs(&self, kind: &str) -> Result<i64, StorageError> {
        const SQL: &str = "SELECT COUNT(*) FROM jobs WHERE kind = $1";
        Ok(super::with_pool!(self, |pool| {
            sqlx::query_scalar(SQL).bind(kind).fetch_one(pool).await?
        }))
    }
}

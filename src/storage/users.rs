//! Users, their sessions and channel relations: what the application's API
//! reads and writes, and the profile a refresh job brings back from Kakao.

use super::{
    ChannelRelation, Session, Storage, StorageError, User, UserStatus, in_write_tx, with_pool,
};
use crate::{
    clock::{end_of_second, now_millis},
    ids::{SessionId, UserId},
};

/// The outcome of starting a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionStart {
    Started(Session),
    /// Kakao reported the account disabled or purged: no new session.
    UserInactive {
        status: UserStatus,
    },
}

/// A new session id: 256 random bits, hex-encoded.
fn new_session_id() -> Result<SessionId, StorageError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(StorageError::Random)?;
    Ok(SessionId::from_random(&bytes))
}

/// A login links the user: a new or unlinked user becomes `linked`.
/// `linked_at` is exact (it tells links apart); the status time is at second
/// precision like every time that orders changes.
const LINK_ON_LOGIN: &str = "
    INSERT INTO users (user_id, status, linked_at, status_event_at, created_at, updated_at)
    VALUES ($1, 'linked', $2, $3, $2, $2)
    ON CONFLICT (user_id) DO UPDATE SET
        status = 'linked', linked_at = $2, status_event_at = $3, updated_at = $2
    WHERE users.status = 'unlinked'";

impl Storage {
    pub async fn user(&self, user_id: &UserId) -> Result<Option<User>, StorageError> {
        const USER: &str = "SELECT * FROM users WHERE user_id = $1";
        const SCOPES: &str =
            "SELECT scope FROM user_scopes WHERE user_id = $1 AND consented ORDER BY scope";
        Ok(with_pool!(self, |pool| {
            let user: Option<User> = sqlx::query_as(USER)
                .bind(user_id.as_str())
                .fetch_optional(pool)
                .await?;
            match user {
                None => None,
                Some(mut user) => {
                    user.scopes = sqlx::query_scalar(SCOPES)
                        .bind(user_id.as_str())
                        .fetch_all(pool)
                        .await?;
                    Some(user)
                }
            }
        }))
    }

    /// Starts a session for a user who has just logged in with Kakao.
    pub async fn start_session(&self, user_id: &UserId) -> Result<SessionStart, StorageError> {
        let now = now_millis();
        let session_id = new_session_id()?;
        let start = in_write_tx!(self, |tx| {
            sqlx::query(LINK_ON_LOGIN)
                .bind(user_id.as_str())
                .bind(now)
                .bind(end_of_second(now))
                .execute(&mut *tx)
                .await?;
            let status: String = sqlx::query_scalar("SELECT status FROM users WHERE user_id = $1")
                .bind(user_id.as_str())
                .fetch_one(&mut *tx)
                .await?;
            let status = UserStatus::parse(&status)
                .map_err(|err| StorageError::Database(sqlx::Error::Decode(Box::new(err))))?;
            if status == UserStatus::Linked {
                let session: Session = sqlx::query_as(
                    "INSERT INTO sessions (session_id, user_id, created_at) VALUES ($1, $2, $3)
                     RETURNING *",
                )
                .bind(session_id.as_str())
                .bind(user_id.as_str())
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
                SessionStart::Started(session)
            } else {
                SessionStart::UserInactive { status }
            }
        });
        Ok(start)
    }

    pub async fn session(&self, session_id: &SessionId) -> Result<Option<Session>, StorageError> {
        const SQL: &str = "SELECT * FROM sessions WHERE session_id = $1";
        Ok(with_pool!(self, |pool| {
            sqlx::query_as(SQL)
                .bind(session_id.as_str())
                .fetch_optional(pool)
                .await?
        }))
    }

    /// Ends a session (logout); a revoked session keeps its first reason.
    pub async fn end_session(
        &self,
        session_id: &SessionId,
        reason: &str,
    ) -> Result<Option<Session>, StorageError> {
        const SQL: &str = "
            UPDATE sessions SET revoked_at = COALESCE(revoked_at, $2),
                revoked_reason = COALESCE(revoked_reason, $3)
            WHERE session_id = $1 RETURNING *";
        let now = now_millis();
        Ok(in_write_tx!(self, |tx| {
            sqlx::query_as(SQL)
                .bind(session_id.as_str())
                .bind(now)
                .bind(reason)
                .fetch_optional(&mut *tx)
                .await?
        }))
    }

    pub async fn channel_relations(
        &self,
        user_id: &UserId,
    ) -> Result<Vec<ChannelRelation>, StorageError> {
        const SQL: &str =
            "SELECT * FROM channel_relations WHERE user_id = $1 ORDER BY channel_public_id";
        Ok(with_pool!(self, |pool| {
            sqlx::query_as(SQL)
                .bind(user_id.as_str())
                .fetch_all(pool)
                .await?
        }))
    }

    /// Stores a profile Kakao returned, fetched at `fetched_at` (ms): it is
    /// newer than any change before that moment, and clears the stale flag
    /// unless the profile changed again since.
    pub async fn apply_profile(
        &self,
        user_id: &UserId,
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
                    .bind(user_id.as_str())
                    .bind(value)
                    .bind(fetched_at)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }
            // Event times are the end of their second (`end_of_second`): a
            // change that made this job, received in the fetch's own second,
            // is older than the fetch. One that came after re-armed the job,
            // which fetches again.
            sqlx::query(FRESH)
                .bind(user_id.as_str())
                .bind(end_of_second(fetched_at))
                .bind(now)
                .execute(&mut *tx)
                .await?;
        });
        Ok(())
    }
}

//! What HTTPS keeps in the database, so that every instance serves the same
//! certificate: the ACME account, the certificate and its key, challenges
//! in progress (any instance may be asked by the CA), and the lease under
//! which one instance at a time renews. Also the last good list of Kakao's
//! callback addresses.

use sqlx::FromRow;

use super::{Storage, StorageError, in_write_tx, with_pool};

/// A certificate row: what is served, and how its renewal goes.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct StoredCertificate {
    pub domains: String,
    pub cert_pem: Option<String>,
    pub key_pem: Option<String>,
    /// ms.
    pub not_after: Option<i64>,
    /// When it is due for renewal, ms.
    pub renew_at: Option<i64>,
    pub last_error: Option<String>,
    /// Since when attempts have failed, ms.
    pub failed_since: Option<i64>,
    pub updated_at: i64,
}

/// A challenge the CA will check, answered by whichever instance it reaches.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct StoredChallenge {
    pub token: String,
    /// `http-01` or `tls-alpn-01`.
    pub kind: String,
    pub domain: String,
    pub key_authorization: String,
    pub expires_at: i64,
}

impl Storage {
    pub async fn acme_account(&self, directory_url: &str) -> Result<Option<String>, StorageError> {
        const SQL: &str = "SELECT credentials FROM acme_accounts WHERE directory_url = $1";
        Ok(with_pool!(self, |pool| {
            sqlx::query_scalar(SQL)
                .bind(directory_url)
                .fetch_optional(pool)
                .await?
        }))
    }

    /// Keeps the first account saved for a directory (two instances racing
    /// to make one keep the same).
    pub async fn save_acme_account(
        &self,
        directory_url: &str,
        credentials: &str,
        now: i64,
    ) -> Result<(), StorageError> {
        const SQL: &str = "INSERT INTO acme_accounts (directory_url, credentials, created_at)
            VALUES ($1, $2, $3) ON CONFLICT (directory_url) DO NOTHING";
        in_write_tx!(self, |tx| {
            sqlx::query(SQL)
                .bind(directory_url)
                .bind(credentials)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        });
        Ok(())
    }

    pub async fn certificate(
        &self,
        domains: &str,
    ) -> Result<Option<StoredCertificate>, StorageError> {
        const SQL: &str = "SELECT domains, cert_pem, key_pem, not_after, renew_at, last_error,
                failed_since, updated_at
            FROM tls_certificates WHERE domains = $1";
        Ok(with_pool!(self, |pool| {
            sqlx::query_as(SQL)
                .bind(domains)
                .fetch_optional(pool)
                .await?
        }))
    }

    /// Stores a newly issued certificate and clears any failure.
    pub async fn save_certificate(
        &self,
        domains: &str,
        (cert_pem, key_pem): (&str, &str),
        (not_after, renew_at): (i64, i64),
        now: i64,
    ) -> Result<(), StorageError> {
        const SQL: &str = "INSERT INTO tls_certificates (domains, cert_pem, key_pem, not_after,
                renew_at, last_error, failed_since, updated_at)
            VALUES ($1, $2, $3, $4, $5, NULL, NULL, $6)
            ON CONFLICT (domains) DO UPDATE SET cert_pem = excluded.cert_pem,
                key_pem = excluded.key_pem, not_after = excluded.not_after,
                renew_at = excluded.renew_at, last_error = NULL, failed_since = NULL,
                updated_at = excluded.updated_at";
        in_write_tx!(self, |tx| {
            sqlx::query(SQL)
                .bind(domains)
                .bind(cert_pem)
                .bind(key_pem)
                .bind(not_after)
                .bind(renew_at)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        });
        Ok(())
    }

    /// Moves the renewal earlier (the CA's renewal window says so).
    pub async fn renew_certificate_by(&self, domains: &str, at: i64) -> Result<(), StorageError> {
        const SQL: &str =
            "UPDATE tls_certificates SET renew_at = $2 WHERE domains = $1 AND renew_at > $2";
        in_write_tx!(self, |tx| {
            sqlx::query(SQL)
                .bind(domains)
                .bind(at)
                .execute(&mut *tx)
                .await?;
        });
        Ok(())
    }

    /// Records a failed attempt (the first failure's time is kept).
    pub async fn certificate_failed(
        &self,
        domains: &str,
        error: &str,
        now: i64,
    ) -> Result<(), StorageError> {
        const SQL: &str = "INSERT INTO tls_certificates (domains, last_error, failed_since,
                updated_at)
            VALUES ($1, $2, $3, $3)
            ON CONFLICT (domains) DO UPDATE SET last_error = excluded.last_error,
                failed_since = COALESCE(tls_certificates.failed_since, excluded.failed_since)";
        in_write_tx!(self, |tx| {
            sqlx::query(SQL)
                .bind(domains)
                .bind(error)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        });
        Ok(())
    }

    pub async fn save_challenge(&self, challenge: &StoredChallenge) -> Result<(), StorageError> {
        const SQL: &str = "INSERT INTO acme_challenges (token, kind, domain, key_authorization,
                expires_at) VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT (token) DO UPDATE SET key_authorization = excluded.key_authorization,
                expires_at = excluded.expires_at";
        in_write_tx!(self, |tx| {
            sqlx::query(SQL)
                .bind(&challenge.token)
                .bind(&challenge.kind)
                .bind(&challenge.domain)
                .bind(&challenge.key_authorization)
                .bind(challenge.expires_at)
                .execute(&mut *tx)
                .await?;
        });
        Ok(())
    }

    /// The live HTTP-01 challenge with `token`.
    pub async fn http_challenge(
        &self,
        token: &str,
        now: i64,
    ) -> Result<Option<String>, StorageError> {
        const SQL: &str = "SELECT key_authorization FROM acme_challenges
            WHERE token = $1 AND kind = 'http-01' AND expires_at > $2";
        Ok(with_pool!(self, |pool| {
            sqlx::query_scalar(SQL)
                .bind(token)
                .bind(now)
                .fetch_optional(pool)
                .await?
        }))
    }

    /// The live TLS-ALPN-01 challenge for `domain`.
    pub async fn tls_alpn_challenge(
        &self,
        domain: &str,
        now: i64,
    ) -> Result<Option<String>, StorageError> {
        const SQL: &str = "SELECT key_authorization FROM acme_challenges
            WHERE domain = $1 AND kind = 'tls-alpn-01' AND expires_at > $2
            ORDER BY expires_at DESC LIMIT 1";
        Ok(with_pool!(self, |pool| {
            sqlx::query_scalar(SQL)
                .bind(domain)
                .bind(now)
                .fetch_optional(pool)
                .await?
        }))
    }

    /// Deletes the challenges that are over (done, or expired).
    pub async fn delete_challenges(&self, tokens: &[String], now: i64) -> Result<(), StorageError> {
        in_write_tx!(self, |tx| {
            for token in tokens {
                sqlx::query("DELETE FROM acme_challenges WHERE token = $1")
                    .bind(token)
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query("DELETE FROM acme_challenges WHERE expires_at <= $1")
                .bind(now)
                .execute(&mut *tx)
                .await?;
        });
        Ok(())
    }

    /// Takes (or extends) the lease `name` for `holder` until `until` (ms),
    /// unless another holder's lease is still running. One statement, so of
    /// several instances asking at once exactly one gets it.
    pub async fn take_lease(
        &self,
        name: &str,
        holder: &str,
        now: i64,
        until: i64,
    ) -> Result<bool, StorageError> {
        const SQL: &str = "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3)
            ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,
                expires_at = excluded.expires_at
            WHERE leases.holder = excluded.holder OR leases.expires_at <= $4";
        let taken = in_write_tx!(self, |tx| {
            sqlx::query(SQL)
                .bind(name)
                .bind(holder)
                .bind(until)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected()
        });
        Ok(taken == 1)
    }

    pub async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StorageError> {
        in_write_tx!(self, |tx| {
            sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
                .bind(name)
                .bind(holder)
                .execute(&mut *tx)
                .await?;
        });
        Ok(())
    }

    /// The last good list of Kakao's callback addresses, and when it was fetched (ms).
    pub async fn kakao_source_ips(&self) -> Result<Option<(String, i64)>, StorageError> {
        const SQL: &str =
            "SELECT networks, fetched_at FROM kakao_source_ips WHERE list = 'inbound'";
        Ok(with_pool!(self, |pool| {
            sqlx::query_as(SQL).fetch_optional(pool).await?
        }))
    }

    pub async fn save_kakao_source_ips(
        &self,
        networks: &str,
        now: i64,
    ) -> Result<(), StorageError> {
        const SQL: &str = "INSERT INTO kakao_source_ips (list, networks, fetched_at)
            VALUES ('inbound', $1, $2)
            ON CONFLICT (list) DO UPDATE SET networks = excluded.networks,
                fetched_at = excluded.fetched_at";
        in_write_tx!(self, |tx| {
            sqlx::query(SQL)
                .bind(networks)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        });
        Ok(())
    }
}

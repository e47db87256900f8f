//! Fresh databases for each test: a SQLite file, or a PostgreSQL schema.

use std::{io::Write, sync::Once};

use kakao_webhooks::{config::DatabaseUrl, storage::Storage};
use sqlx::PgPool;
use tokio_util::task::TaskTracker;

pub struct TestDb {
    pub storage: Storage,
    url: DatabaseUrl,
    cleanup: Cleanup,
}

enum Cleanup {
    Sqlite(#[expect(dead_code, reason = "held so the folder outlives the test")] tempfile::TempDir),
    Postgres { admin: PgPool, schema: String },
}

impl TestDb {
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url =
            DatabaseUrl::parse(&format!("sqlite://{}/db.sqlite", dir.path().display())).unwrap();
        let storage = Storage::connect(&url, &TaskTracker::new()).await.unwrap();
        storage.migrate().await.unwrap();
        Self {
            storage,
            url,
            cleanup: Cleanup::Sqlite(dir),
        }
    }

    /// `None` when `TEST_DATABASE_URL` is unset.
    pub async fn postgres() -> Option<Self> {
        let Ok(base) = std::env::var("TEST_DATABASE_URL") else {
            static SAID: Once = Once::new();
            // Straight to stderr: the test harness captures `eprintln!`.
            SAID.call_once(|| {
                let _ = writeln!(
                    std::io::stderr(),
                    "TEST_DATABASE_URL is not set: the PostgreSQL half of the storage tests was skipped"
                );
            });
            return None;
        };
        let admin = PgPool::connect(&base)
            .await
            .expect("TEST_DATABASE_URL accepts connections");
        let schema = format!("t_{}", uuid_like());
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&admin)
            .await
            .unwrap();
        let mut url = url::Url::parse(&base).unwrap();
        url.query_pairs_mut()
            .append_pair("options", &format!("-c search_path={schema}"));
        let url = DatabaseUrl::parse(url.as_str()).unwrap();
        let storage = Storage::connect(&url, &TaskTracker::new()).await.unwrap();
        storage.migrate().await.unwrap();
        Some(Self {
            storage,
            url,
            cleanup: Cleanup::Postgres { admin, schema },
        })
    }

    /// A second instance of the service on the same database: its own pool
    /// and its own event writer.
    pub async fn another_instance(&self) -> Storage {
        Storage::connect(&self.url, &TaskTracker::new())
            .await
            .unwrap()
    }

    /// Every row `sql` returns, its columns joined by `|` (NULL as `~`).
    pub async fn rows(&self, sql: &str) -> Vec<String> {
        use sqlx::Row;
        fn joined<R: Row>(row: &R) -> String
        where
            for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
            for<'r> Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
            for<'r> Option<bool>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
            usize: sqlx::ColumnIndex<R>,
        {
            (0..row.columns().len())
                .map(|i| {
                    let value = row
                        .try_get::<Option<String>, _>(i)
                        .or_else(|_| {
                            row.try_get::<Option<i64>, _>(i)
                                .map(|v| v.map(|v| v.to_string()))
                        })
                        .or_else(|_| {
                            row.try_get::<Option<bool>, _>(i)
                                .map(|v| v.map(|v| v.to_string()))
                        })
                        .unwrap_or_else(|err| panic!("column {i}: {err}"));
                    value.unwrap_or_else(|| "~".into())
                })
                .collect::<Vec<_>>()
                .join("|")
        }
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        match &self.cleanup {
            Cleanup::Sqlite(_) => {
                let pool = sqlx::SqlitePool::connect(self.url.expose()).await.unwrap();
                let rows = sqlx::query(sql).fetch_all(&pool).await.unwrap();
                pool.close().await;
                rows.iter().map(joined).collect()
            }
            Cleanup::Postgres { .. } => {
                let pool = PgPool::connect(self.url.expose()).await.unwrap();
                let rows = sqlx::query(sql).fetch_all(&pool).await.unwrap();
                pool.close().await;
                rows.iter().map(joined).collect()
            }
        }
    }

    pub async fn cleanup(self) {
        self.storage.close().await;
        if let Cleanup::Postgres { admin, schema } = self.cleanup {
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                .execute(&admin)
                .await
                .unwrap();
        }
    }
}

/// A short random name part (no dependency needed for test names).
fn uuid_like() -> String {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).unwrap();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

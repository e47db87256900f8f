//! `simulate skill --callback`'s stand-in for Kakao's callback endpoint.

use std::time::Duration;

use anyhow::Context;
use serde_json::{Value, json};

/// A local callbackUrl: records the one POST and answers like Kakao.
pub(super) struct CallbackReceiver {
    pub(super) url: String,
    posted: tokio::sync::mpsc::Receiver<Value>,
}

impl CallbackReceiver {
    pub(super) async fn start() -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/callback/simulated", listener.local_addr()?);
        let (tx, posted) = tokio::sync::mpsc::channel(4);
        let app = axum::Router::new().route(
            "/callback/simulated",
            axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
                let tx = tx.clone();
                async move {
                    let _ = tx.send(body).await;
                    axum::Json(json!({"taskId": "simulated", "status": "SUCCESS", "message": "", "timestamp": 0}))
                }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Self { url, posted })
    }

    pub(super) async fn wait(mut self, limit: Duration) -> anyhow::Result<Value> {
        tokio::time::timeout(limit, self.posted.recv())
            .await
            .ok()
            .flatten()
            .context("no callback POST arrived within 60 s")
    }
}

//! The ceiling the load harness measures this service against: a plain axum
//! hello-world on the same tokio and axum, answering the skill routes with a
//! fixed body and doing nothing else (no middleware, metrics, tracing,
//! parsing or storage). `cargo run --release --example ceiling -- ADDR`;
//! `examples/loadtest` starts it itself, pinned like the service.

use axum::{Router, body::Bytes, http::header, response::IntoResponse, routing::get};

const VERIFICATION: &str = r#"{"version":"2.0","data":{}}"#;
const ANSWER: &str =
    r#"{"version":"2.0","template":{"outputs":[{"simpleText":{"text":"안녕하세요"}}]}}"#;

async fn verify() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], VERIFICATION)
}

/// Reads the whole body, as the service must, and answers a fixed text.
async fn answer(body: Bytes) -> impl IntoResponse {
    std::hint::black_box(body);
    ([(header::CONTENT_TYPE, "application/json")], ANSWER)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8090".into());
    let app = Router::new().route("/kakao/skill", get(verify).post(answer));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    axum::serve(listener, app).await
}

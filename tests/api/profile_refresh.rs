//! Profile refresh: after user-profile-changed, the user is fetched from a
//! local stand-in for Kakao's user API in a durable background job.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{Json, extract::Query, http::HeaderMap, http::StatusCode, routing::get};
use serde_json::{Value, json};

use crate::{
    helpers::ADMIN_KEY,
    security_events::{Kakao, kakao_with, wait_for_events_family},
};

/// Kakao's user API, played locally: `/v2/user/me` for users 3001 (fails
/// once, then answers with a verified email), 3003 (an unverified email),
/// 3002 (400: gone); a wrong admin key gets 401.
async fn fake_user_api(calls: Arc<AtomicUsize>) -> String {
    let app = axum::Router::new().route(
        "/v2/user/me",
        get(move |headers: HeaderMap, Query(query): Query<HashMap<String, String>>| {
            let calls = calls.clone();
            async move {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                let authorized = headers["authorization"] == format!("KakaoAK {ADMIN_KEY}");
                let account = |email: &str, verified: bool| {
                    json!({"email": email, "is_email_valid": true, "is_email_verified": verified,
                           "phone_number": "+82 10-1234-5678"})
                };
                match (authorized, query.get("target_id").map(String::as_str), n) {
                    (false, _, _) => (StatusCode::UNAUTHORIZED, Json(json!({"code": -401}))),
                    (true, Some("3001"), 0) => (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({}))),
                    (true, Some("3001"), _) => (
                        StatusCode::OK,
                        Json(json!({"id": 3001, "kakao_account": account("fresh@example.com", true)})),
                    ),
                    (true, Some("3003"), _) => (
                        StatusCode::OK,
                        Json(json!({"id": 3003, "kakao_account": account("unverified@example.com", false)})),
                    ),
                    _ => (StatusCode::BAD_REQUEST, Json(json!({"code": -101}))),
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

async fn refreshing(api: &str, admin_key: Option<&str>) -> Kakao {
    let mut vars = vec![
        ("KAKAO_PROFILE_REFRESH", "true"),
        ("KAKAO_API_BASE_URL", api),
    ];
    if let Some(key) = admin_key {
        vars.push(("KAKAO_ADMIN_KEY", key));
    }
    let k = kakao_with(&vars).await;
    wait_for_events_family(&k.app, "ready").await;
    k
}

async fn refreshed(k: &Kakao, user: &str) -> Value {
    for _ in 0..100 {
        let found = k.user(user).await;
        if found["profile_stale"] == false {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("user {user} was never refreshed");
}

#[tokio::test]
async fn a_profile_change_is_refreshed_from_kakao_in_the_background_with_retries() {
    let calls = Arc::new(AtomicUsize::new(0));
    let api = fake_user_api(calls.clone()).await;
    let k = refreshing(&api, None).await;
    k.send("user-profile-changed", "3001", json!({})).await;

    let user = refreshed(&k, "3001").await;
    assert_eq!(user["email"], "fresh@example.com");
    assert_eq!(user["phone_number"], "+82 10-1234-5678");
    assert_eq!(calls.load(Ordering::SeqCst), 2, "one failure, one retry");

    // A user Kakao refuses (4xx) is tried once and dropped, staying stale.
    k.send("user-profile-changed", "3002", json!({})).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(k.user("3002").await["profile_stale"], true);
}

#[tokio::test]
async fn an_email_kakao_has_not_verified_is_never_stored() {
    let api = fake_user_api(Arc::new(AtomicUsize::new(0))).await;
    let k = refreshing(&api, None).await;
    k.send("user-profile-changed", "3003", json!({})).await;
    let user = refreshed(&k, "3003").await;
    assert_eq!(user["email"], Value::Null, "{user}");
    assert_eq!(user["phone_number"], "+82 10-1234-5678");
}

#[tokio::test]
async fn a_refused_admin_key_pauses_the_jobs_instead_of_dropping_them() {
    let calls = Arc::new(AtomicUsize::new(0));
    let api = fake_user_api(calls.clone()).await;
    // Webhooks still come with the configured key; the user API refuses it
    // (the key was rotated at Kakao).
    let k = refreshing(&api, Some("rotated-away-admin-key")).await;
    for user in ["3001", "3003"] {
        k.send("user-profile-changed", user, json!({})).await;
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(calls.load(Ordering::SeqCst), 1, "one refusal, then paused");
    let metrics = k.app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(r#"kakao_profile_refreshes_total{outcome="unauthorized"} 1"#),
        "{metrics}"
    );
    // Both jobs are kept for when the key works again (the gauge is set
    // every 5 s).
    let pending = |metrics: &str| {
        metrics
            .lines()
            .find(|line| line.starts_with(r#"kakao_jobs_pending{kind="refresh_profile"}"#))
            .and_then(|line| line.rsplit(' ').next())
            .map(str::to_owned)
    };
    let mut last = None;
    for _ in 0..100 {
        last = pending(&k.app.get("/metrics").await.text().await.unwrap());
        if last.as_deref() == Some("2") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(last.as_deref(), Some("2"));
    assert_eq!(calls.load(Ordering::SeqCst), 1, "still paused");
}

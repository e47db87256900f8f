//! Several instances on one PostgreSQL database: every delivery, sent to any
//! or all of them, is stored and applied exactly once.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{APP_ID, ScratchDatabase, TestApp};

#[tokio::test]
async fn two_instances_apply_each_delivery_exactly_once() {
    let Some(database) = ScratchDatabase::create().await else {
        return; // the storage suite says once that PostgreSQL was skipped
    };
    let one = TestApp::kakao()
        .var("DATABASE_URL", &database.url)
        .spawn()
        .await;
    let two = TestApp::kakao()
        .var("DATABASE_URL", &database.url)
        .spawn()
        .await;
    let session = one.login("9001").await;

    // Each delivery reaches both instances at once, as a load balancer's retry might.
    let mut deliveries = Vec::new();
    for n in 0..20 {
        for app in [&one, &two] {
            let request = app
                .kakao_request(Method::POST, "/kakao/channel")
                .header("x-kakao-resource-id", format!("multi-{n}"))
                .json(&json!({
                    "event": if n % 2 == 0 { "added" } else { "blocked" },
                    "id": "9001", "id_type": "app_user_id", "channel_public_id": "_FLX",
                    "updated_at": format!("2024-01-01T00:00:{n:02}Z"),
                }));
            deliveries.push(tokio::spawn(request.send()));
        }
    }
    let unlink =
        format!("/kakao/unlink?app_id={APP_ID}&user_id=9001&referrer_type=UNLINK_FROM_APPS");
    for app in [&one, &two] {
        deliveries.push(tokio::spawn(app.kakao_request(Method::GET, &unlink).send()));
    }
    for delivery in deliveries {
        assert_eq!(delivery.await.unwrap().unwrap().status(), 200);
    }

    let events = two.events().await;
    assert_eq!(
        events.len(),
        21,
        "20 channel notices and one unlink, each once"
    );
    assert_eq!(events, one.events().await, "both instances see one log");
    let (_, user) = one.api_get("/api/users/9001").await;
    assert_eq!(user["status"], "unlinked");
    assert_eq!(
        user["channels"],
        json!([]),
        "erased with the user, and not brought back by a notice after the unlink"
    );
    let (_, session) = two.api_get(&format!("/api/sessions/{session}")).await;
    assert_eq!(session["active"], false);

    one.stop().await.unwrap();
    two.stop().await.unwrap();
    database.drop().await;
}

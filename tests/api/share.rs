//! `GET|POST /kakao/share`: Kakao Talk Share delivery.

use reqwest::Method;

use crate::helpers::TestApp;

#[tokio::test]
async fn a_get_delivery_is_stored_with_the_apps_callback_args() {
    let app = TestApp::kakao().spawn().await;
    let response = app
        .kakao_request(
            Method::GET,
            "/kakao/share?CHAT_TYPE=MultiChat&HASH_CHAT_ID=abc123&TEMPLATE_ID=1234&order_id=42",
        )
        .header("x-kakao-resource-id", "share-1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let events = app.events().await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["type"], "share.delivered");
    assert_eq!(events[0]["payload"]["CHAT_TYPE"], "MultiChat");
    assert_eq!(events[0]["payload"]["order_id"], "42");
}

#[tokio::test]
async fn a_post_form_delivery_is_stored_once() {
    let app = TestApp::kakao().spawn().await;
    for _ in 0..2 {
        let response = app
            .kakao_request(Method::POST, "/kakao/share/")
            .header("x-kakao-resource-id", "share-2")
            .form(&[
                ("CHAT_TYPE", "DirectChat"),
                ("HASH_CHAT_ID", "h"),
                ("campaign", "winter"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    let events = app.events().await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["payload"]["campaign"], "winter");
}

#[tokio::test]
async fn incomplete_or_unauthenticated_deliveries_are_refused() {
    let app = TestApp::kakao().spawn().await;
    let missing_chat = app
        .kakao_request(Method::GET, "/kakao/share?HASH_CHAT_ID=h")
        .header("x-kakao-resource-id", "s")
        .send()
        .await
        .unwrap();
    assert_eq!(missing_chat.status(), 400);
    let missing_resource = app
        .kakao_request(
            Method::GET,
            "/kakao/share?CHAT_TYPE=MemoChat&HASH_CHAT_ID=h",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(missing_resource.status(), 400);
    let unauthenticated = app
        .client
        .get(app.url("/kakao/share?CHAT_TYPE=MemoChat&HASH_CHAT_ID=h"))
        .header("x-kakao-resource-id", "s")
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), 401);
    assert!(app.events().await.is_empty());
}

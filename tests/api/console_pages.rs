//! The console's pages over plain HTTP, with a signed-in session: one page
//! per delivery for every family (decoded, masked, in Korean words, in
//! Seoul time), the user page, and the health page's charts drawn from the
//! database with their text alternatives.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::{
    helpers::{ADMIN_KEY, APP_ID, TestApp},
    security_events::kakao_with,
};

const BOT_SECRET: &str = "test-bot-secret";

/// The id of the stored event of `event_type`.
pub(crate) async fn event_id(app: &TestApp, event_type: &str) -> i64 {
    app.events()
        .await
        .iter()
        .find(|e| e["type"] == event_type)
        .unwrap_or_else(|| panic!("no {event_type} event"))["event_id"]
        .as_i64()
        .unwrap()
}

/// The live page's link to the newest delivery of `family` with `outcome`.
pub(crate) fn live_link(live: &str, family: &str, outcome: &str) -> String {
    let marker = format!(r#"data-family="{family}" data-outcome="{outcome}""#);
    let row = &live[live.find(&marker).unwrap_or_else(|| panic!("no {marker}"))..];
    let start = row.find("/console/deliveries/").unwrap();
    row[start..].split('"').next().unwrap().to_owned()
}

/// A Kakao with the bot configured, that has sent one delivery of every
/// family (a SET, an unlink, a channel block, a share, a bot message, a
/// skill request) and two refused ones (an unlink with a wrong key, a SET
/// that is not a JWT).
pub(crate) async fn one_delivery_of_each_family() -> crate::security_events::Kakao {
    let kakao = kakao_with(&[
        ("KAKAO_BOT_TOKEN", "test-bot-token"),
        ("KAKAO_BOT_WEBHOOK_SECRET", BOT_SECRET),
    ])
    .await;
    crate::security_events::wait_for_events_family(&kakao.app, "ready").await;
    let app = &kakao.app;
    kakao
        .send(
            "user-scope-consent",
            "7001",
            json!({"scope": "talk_message"}),
        )
        .await;
    let unlink = app
        .kakao_request(
            Method::GET,
            &format!("/kakao/unlink?app_id={APP_ID}&user_id=7002&referrer_type=UNLINK_FROM_APPS&group_user_token=gut-secret"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(unlink.status(), 200);
    let channel = app
        .kakao_request(Method::POST, "/kakao/channel")
        .header("x-kakao-resource-id", "channel-1")
        .json(
            &json!({"event": "blocked", "id": "7003", "id_type": "app_user_id",
            "channel_public_id": "_FLX", "channel_uuid": "@ad",
            "updated_at": "2026-12-07T00:43:03Z"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(channel.status(), 200);
    let share = app
        .kakao_request(
            Method::GET,
            "/kakao/share?CHAT_TYPE=MemoChat&HASH_CHAT_ID=h1&TEMPLATE_ID=9",
        )
        .header("x-kakao-resource-id", "share-1")
        .send()
        .await
        .unwrap();
    assert_eq!(share.status(), 200);
    let bot = app
        .client
        .post(app.url("/kakao/bot"))
        .header("x-bot-secret", BOT_SECRET)
        .header("content-type", "application/json")
        .body(r#"{"op":0,"t":"MESSAGE_CREATE","d":{"id":869509512613945331,"content":"안녕","isChannelChatroom":false,"botGroupKey":"g1","botUserKey":"u1","timestamp":"2026-07-27T09:20:22.512392989Z","callbackToken":"cb-secret","type":"MESSAGE_CREATE"}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(bot.status(), 204);
    let refused = app
        .client
        .get(app.url(&format!(
            "/kakao/unlink?app_id={APP_ID}&user_id=7004&referrer_type=x"
        )))
        .header("authorization", format!("KakaoAK {ADMIN_KEY}-wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let (status, _) = crate::security_events::post(app, "not.a.jwt").await;
    assert_eq!(status, 400);
    let skill = app
        .post_skill(crate::helpers::skill_request("안녕", None))
        .await;
    assert_eq!(skill.status(), 200);

    kakao
}

#[tokio::test]
async fn each_familys_delivery_page_decodes_what_kakao_sent_and_says_what_it_changed() {
    let kakao = one_delivery_of_each_family().await;
    let app = &kakao.app;
    let console = app.console_session().await;
    let page = |id: i64| format!("/console/deliveries/{id}");

    // A SET: its header as verified, its claims, the change in words, Seoul time.
    let set = console
        .html(app, &page(event_id(app, "user-scope-consent").await))
        .await;
    assert!(set.contains("동의 항목 추가: talk_message"), "{set}");
    assert!(set.contains("RS256") && set.contains("test-key-a"));
    assert!(
        !set.contains(crate::kakao_keys::REST_API_KEY),
        "the app key is masked"
    );
    assert!(set.contains(" KST</time>"), "Seoul time");
    assert!(
        set.contains("/ 3000 ms"),
        "the answer against the deadline: {set}"
    );
    let english = console
        .html(
            app,
            &format!(
                "{}?lang=en",
                page(event_id(app, "user-scope-consent").await)
            ),
        )
        .await;
    assert!(english.contains("scopes consented: talk_message"));

    // An unlink erases what the user sent at once; the page says so.
    let unlink = console
        .html(app, &page(event_id(app, "unlink").await))
        .await;
    assert!(unlink.contains("앱 연결 해제"), "{unlink}");
    assert!(unlink.contains(r#"id="body-note""#) && unlink.contains("지워졌습니다"));
    assert!(!unlink.contains("gut-secret"));
    // The other admin-key webhooks: their form fields.
    let channel = console
        .html(app, &page(event_id(app, "channel.blocked").await))
        .await;
    assert!(
        channel.contains("채널 차단") && channel.contains("_FLX"),
        "{channel}"
    );
    let share = console
        .html(app, &page(event_id(app, "share.delivered").await))
        .await;
    assert!(share.contains("카카오톡 공유 메시지 전송됨") && share.contains("HASH_CHAT_ID"));

    // A bot frame, and the reply it queued.
    let bot = console
        .html(app, &page(event_id(app, "MESSAGE_CREATE").await))
        .await;
    assert!(bot.contains("메시지 받음: 답장 대기"), "{bot}");
    assert!(bot.contains("869509512613945331") && !bot.contains("cb-secret"));
    assert!(bot.contains(r#"id="caused""#), "the reply it caused: {bot}");

    // Not stored: from this instance's memory, with the reason.
    let live = console.html(app, "/console").await;
    let refused = console
        .html(app, &live_link(&live, "unlink", "refused"))
        .await;
    assert!(
        refused.contains("거부함") && refused.contains(r#"id="body-note""#),
        "{refused}"
    );
    let refused_set = console
        .html(app, &live_link(&live, "events", "refused"))
        .await;
    assert!(
        refused_set.contains("거부함: invalid_request"),
        "a refused SET says why: {refused_set}"
    );
    let skill = console
        .html(app, &live_link(&live, "skill", "answered"))
        .await;
    assert!(
        skill.contains("응답함") && skill.contains("/ 5000 ms"),
        "{skill}"
    );

    for missing in [
        "/console/deliveries/999999",
        "/console/deliveries/live-999999",
    ] {
        assert_eq!(console.page(app, missing).await.0, 404, "{missing}");
    }
}

#[tokio::test]
async fn the_user_page_shows_what_is_stored_and_a_channel_only_user_as_such() {
    let kakao = kakao_with(&[]).await;
    crate::security_events::wait_for_events_family(&kakao.app, "ready").await;
    let app = &kakao.app;
    kakao
        .send(
            "user-scope-consent",
            "7101",
            json!({"scope": "talk_message friends"}),
        )
        .await;
    kakao
        .send(
            "user-unlinked",
            "7101",
            json!({"reason": "UNLINK_FROM_APPS"}),
        )
        .await;
    let channel = app
        .kakao_request(Method::POST, "/kakao/channel")
        .header("x-kakao-resource-id", "channel-7102")
        .json(
            &json!({"event": "added", "id": "7102", "id_type": "app_user_id",
            "channel_public_id": "_FLX", "channel_uuid": "@ad"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(channel.status(), 200);
    let console = app.console_session().await;

    let user = console.html(app, "/console/users/7101").await;
    assert!(user.contains("연결 해제됨"), "{user}");
    assert!(user.contains("UNLINK_FROM_APPS"));
    assert!(
        user.contains("<td>앱 연결 해제</td>"),
        "the timeline in words: {user}"
    );
    assert!(
        user.contains("/console/deliveries/"),
        "each event links to its delivery"
    );
    assert!(!user.contains("찾지 못했습니다"));

    let channel_only = console.html(app, "/console/users/7102").await;
    assert!(
        channel_only.contains("채널이나 봇 이벤트로만"),
        "{channel_only}"
    );
    assert!(channel_only.contains("_FLX 추가"));
    assert!(!channel_only.contains("찾지 못했습니다"));
    let nobody = console.html(app, "/console/users/7199").await;
    assert!(nobody.contains("찾지 못했습니다"));
}

#[tokio::test]
async fn the_health_page_charts_deliveries_and_answer_times_from_the_database() {
    let app = TestApp::kakao()
        // Tallies are written every second.
        .var("ALERT_WINDOW_SECONDS", "30")
        .spawn()
        .await;
    let console = app.console_session().await;
    let empty = console.html(&app, "/console/health").await;
    assert!(
        empty.contains(r#"id="charts-empty""#),
        "an empty state first"
    );
    assert!(empty.contains("simulate unlink --user 1234"));
    assert!(
        empty.contains(r#"<p id="database" class="ok">정상: 쓰기를 받습니다</p>"#),
        "the database as /ready judges it: {empty}"
    );
    assert!(
        !empty.contains("데이터베이스: "),
        "no banner when it takes writes"
    );

    for user in ["7201", "7202", "7203"] {
        let response = app
            .kakao_request(
                Method::GET,
                &format!(
                    "/kakao/unlink?app_id={APP_ID}&user_id={user}&referrer_type=UNLINK_FROM_APPS"
                ),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    let refused = app
        .client
        .get(app.url(&format!(
            "/kakao/unlink?app_id={APP_ID}&user_id=7204&referrer_type=x"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);

    // Written by the workers within seconds; waited for, not slept on.
    let mut html = String::new();
    for _ in 0..300 {
        html = console.html(&app, "/console/health").await;
        let drawn = |id: &str| html.contains(&format!(r#"<svg id="{id}""#));
        if html.contains("전달 4건")
            && drawn("times-unlink")
            && svg(&html, "times-unlink").contains("<circle")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let volume = svg(&html, "volume-unlink");
    assert!(volume.contains(r#"role="img""#), "{volume}");
    assert!(
        volume.contains("전달 4건, 실패 1건"),
        "the text alternative sums it up: {volume}"
    );
    assert_eq!(
        volume.matches("<rect").count(),
        2,
        "accepted and refused, stacked"
    );
    let times = svg(&html, "times-unlink");
    assert!(
        times.contains("기한 3000 ms") && times.contains("stroke-dasharray"),
        "{times}"
    );
    // p50 and p99 of the minute's answers, drawn as dots.
    assert_eq!(times.matches("<circle").count(), 2, "{times}");
    let day = console.html(&app, "/console/health?range=day").await;
    assert!(svg(&day, "volume-unlink").contains("최근 1일"));
    let english = console.html(&app, "/console/health?lang=en").await;
    assert!(svg(&english, "volume-unlink").contains("4 deliveries, 1 failed"));
}

/// The `<svg id="{id}" …>…</svg>` in `html`.
fn svg<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!(r#"<svg id="{id}""#))
        .unwrap_or_else(|| panic!("no chart {id} in {html}"));
    let end = start + html[start..].find("</svg>").unwrap();
    &html[start..end]
}

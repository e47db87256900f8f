//! Replies to bot events through the callback API, against a local Bot API
//! platform: one reply per event and token, retries while the token is
//! valid, none after -881 or past the token's life, none lost to a crash,
//! none doubled by two instances.

use std::time::Duration;

use kakao_webhooks::{
    bot::BotEvent,
    dev::bot_platform::Forced,
    skill::{
        SkillResponse,
        components::{Carousel, CarouselItems, TextCard},
    },
};
use serde_json::{Value, json};

use crate::helpers::{
    ChildProcess, KakaoBotApi, ScratchDatabase, TestApp, TestAppBuilder, free_addr,
};

pub const BOT_TOKEN: &str = "test-bot-token";
const CALLBACK: &str = "/v1/bot/callback";
const WAIT: Duration = Duration::from_secs(20);

/// A MESSAGE_CREATE frame with its own id and callback token.
pub fn message(id: u64, content: &str, token: &str) -> String {
    json!({"op":0,"t":"MESSAGE_CREATE","d":{
        "id": id, "content": content, "isChannelChatroom": false,
        "botGroupKey": "g1", "botUserKey": "u1",
        "timestamp": "2026-07-27T09:20:22.512392989Z",
        "callbackToken": token, "type": "MESSAGE_CREATE"}})
    .to_string()
}

pub fn bot_app(kakao: &KakaoBotApi) -> TestAppBuilder {
    TestApp::kakao()
        .var("KAKAO_BOT_TOKEN", BOT_TOKEN)
        .var("KAKAO_API_BASE_URL", kakao.base_url())
}

pub async fn post_event(app: &TestApp, body: String) {
    let response = app
        .client
        .post(app.url("/kakao/bot"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
}

fn reply_text(call: &kakao_webhooks::dev::bot_platform::RecordedCall) -> String {
    call.body
        .pointer("/skillResponse/template/outputs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|o| o.pointer("/simpleText/text").and_then(Value::as_str))
        .collect::<Vec<_>>()
        .join("\n")
}

async fn delivered(
    kakao: &KakaoBotApi,
    count: usize,
) -> Vec<kakao_webhooks::dev::bot_platform::RecordedCall> {
    kakao
        .platform
        .wait_for_delivered(CALLBACK, count, WAIT)
        .await
        .unwrap_or_else(|| {
            panic!(
                "expected {count} callbacks, got {:?}",
                kakao.platform.calls()
            )
        })
}

#[tokio::test]
async fn a_message_is_answered_once_through_the_callback_api_with_its_token() {
    let kakao = KakaoBotApi::start().await;
    let app = bot_app(&kakao).spawn().await;
    post_event(
        &app,
        message(869_509_512_613_945_331, "안녕 <b>&</b>", "cb-1"),
    )
    .await;

    let calls = delivered(&kakao, 1).await;
    assert_eq!(calls[0].callback_token.as_deref(), Some("cb-1"));
    assert_eq!(
        calls[0].authorization.as_deref(),
        Some("KakaoAK test-bot-token")
    );
    // The demo bot repeats the content verbatim.
    assert!(
        reply_text(&calls[0]).contains("안녕 <b>&</b>"),
        "{:?}",
        calls[0].body
    );
    assert_eq!(calls[0].body["skillResponse"]["version"], "2.0");
    // The token is the reply's, not the log's.
    let events = app.events().await;
    assert!(!events[0]["payload"].to_string().contains("cb-1"));
}

#[tokio::test]
async fn the_handler_sees_ids_above_2_pow_53_exactly() {
    let kakao = KakaoBotApi::start().await;
    let app = bot_app(&kakao)
        .bot_handler(|event: BotEvent| async move {
            Ok(match event {
                BotEvent::MessageCreate(m) => Some(SkillResponse::text(format!("id {}", m.id))),
                _ => None,
            })
        })
        .spawn()
        .await;
    post_event(&app, message(869_509_512_613_945_331, "x", "cb-id")).await;
    let calls = delivered(&kakao, 1).await;
    assert_eq!(reply_text(&calls[0]), "id 869509512613945331");
}

#[tokio::test]
async fn a_repeated_webhook_yields_one_callback() {
    let kakao = KakaoBotApi::start().await;
    let app = bot_app(&kakao).spawn().await;
    for _ in 0..3 {
        post_event(&app, message(7, "한 번만", "cb-once")).await;
    }
    delivered(&kakao, 1).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        kakao.platform.calls().len(),
        1,
        "{:?}",
        kakao.platform.calls()
    );
}

#[tokio::test]
async fn transient_failures_are_retried_until_one_reply_is_delivered() {
    let kakao = KakaoBotApi::start().await;
    kakao.platform.script([
        Forced::Status(500),
        Forced::Status(429),
        Forced::KakaoError(-1),
    ]);
    let app = bot_app(&kakao).spawn().await;
    post_event(&app, message(8, "retry", "cb-retry")).await;
    let calls = delivered(&kakao, 1).await;
    assert_eq!(calls.len(), 1);
    let all = kakao.platform.calls();
    assert_eq!(all.len(), 4, "three failures, then one success: {all:?}");
    assert!(
        all.iter()
            .all(|c| c.callback_token.as_deref() == Some("cb-retry"))
    );
}

#[tokio::test]
async fn an_expired_or_used_token_is_not_retried() {
    let kakao = KakaoBotApi::start().await;
    kakao.platform.script([Forced::KakaoError(-881)]);
    let app = bot_app(&kakao).spawn().await;
    post_event(&app, message(9, "late", "cb-881")).await;
    tokio::time::timeout(WAIT, async {
        while kakao.platform.calls().is_empty() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap();
    // Past the first two retry delays (1 s, 2 s): nothing more.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert_eq!(kakao.platform.calls().len(), 1);
}

#[tokio::test]
async fn a_handler_that_fails_overruns_or_breaks_the_rules_gets_the_fallback() {
    let kakao = KakaoBotApi::start().await;
    let app = bot_app(&kakao)
        .var("KAKAO_BOT_HANDLER_DEADLINE_MS", 300)
        .var("SKILL_FALLBACK_TEXT", "잠시 후 다시 시도해 주세요")
        .bot_handler(|event: BotEvent| async move {
            let BotEvent::MessageCreate(m) = event else {
                return Ok(None);
            };
            match m.content.as_str() {
                "fail" => anyhow::bail!("the bot broke"),
                "slow" => {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    Ok(Some(SkillResponse::text("too late")))
                }
                // A carousel in a group room: Kakao would not show it.
                "carousel" => Ok(Some(SkillResponse::new().output(Carousel::new(
                    CarouselItems::TextCard(vec![TextCard::new().title("t")]),
                )))),
                _ => Ok(Some(SkillResponse::text("ok"))),
            }
        })
        .spawn()
        .await;
    for (id, content) in [(11, "fail"), (12, "slow"), (13, "carousel"), (14, "fine")] {
        post_event(&app, message(id, content, &format!("cb-{id}"))).await;
    }
    let calls = delivered(&kakao, 4).await;
    for call in &calls {
        let expected = if call.callback_token.as_deref() == Some("cb-14") {
            "ok"
        } else {
            "잠시 후 다시 시도해 주세요"
        };
        assert_eq!(reply_text(call), expected, "{:?}", call.callback_token);
    }
}

#[tokio::test]
async fn a_reply_is_not_sent_once_its_token_has_expired() {
    let kakao = KakaoBotApi::start().await;
    kakao.platform.script([Forced::Status(503); 3]);
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}/bot.db", dir.path().display());
    let app = bot_app(&kakao).database(&database).spawn().await;
    post_event(&app, message(21, "expire", "cb-expire")).await;
    tokio::time::timeout(WAIT, async {
        while kakao.platform.calls().is_empty() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap();
    app.stop().await.unwrap();
    // Five minutes pass while the service is down.
    let pool = sqlx::SqlitePool::connect(&database).await.unwrap();
    sqlx::query("UPDATE bot_outbox SET expires_at = 1, run_at = 0")
        .execute(&pool)
        .await
        .unwrap();
    let app = bot_app(&kakao).database(&database).spawn().await;
    tokio::time::timeout(WAIT, async {
        loop {
            let status: String = sqlx::query_scalar("SELECT status FROM bot_outbox")
                .fetch_one(&pool)
                .await
                .unwrap();
            if status != "pending" {
                assert_eq!(status, "expired");
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .unwrap();
    let token: Option<String> = sqlx::query_scalar("SELECT callback_token FROM bot_outbox")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(token, None, "an ended reply forgets its token");
    assert_eq!(kakao.platform.calls().len(), 1, "no call after the restart");
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_reply_survives_kill_9_after_the_204() {
    let kakao = KakaoBotApi::start().await;
    // The first callback never answers: the process dies in the middle of it.
    kakao.platform.script([Forced::Hang]);
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}/crash.db", dir.path().display());
    let addr = free_addr();
    let base = kakao.base_url();
    let vars = [
        ("KAKAO_BOT_TOKEN", BOT_TOKEN),
        ("KAKAO_API_BASE_URL", base.as_str()),
    ];
    let child = ChildProcess::serve_with(&database, &addr, &vars).await;
    let response = reqwest::Client::new()
        .post(format!("http://{addr}/kakao/bot"))
        .header("content-type", "application/json")
        .body(message(31, "살아남기", "cb-crash"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    tokio::time::timeout(WAIT, async {
        while kakao.platform.calls().is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap();
    drop(child); // SIGKILL

    let _child = ChildProcess::serve_with(&database, &addr, &vars).await;
    // Claimed again once the dead process's lease (15 s) runs out.
    let calls = kakao
        .platform
        .wait_for_delivered(CALLBACK, 1, Duration::from_secs(40))
        .await
        .expect("the reply goes out after the restart");
    assert_eq!(calls[0].callback_token.as_deref(), Some("cb-crash"));
    assert!(reply_text(&calls[0]).contains("살아남기"));
}

#[tokio::test]
async fn two_instances_on_one_postgres_send_each_reply_once() {
    let Some(database) = ScratchDatabase::create().await else {
        return;
    };
    let kakao = KakaoBotApi::start().await;
    const EVENTS: u64 = 20;
    // Every first try fails: the retries fall due together, and both
    // instances claim from the same rows at once.
    kakao
        .platform
        .script([Forced::Status(503); EVENTS as usize]);
    let one = bot_app(&kakao).database(&database.url).spawn().await;
    let two = bot_app(&kakao).database(&database.url).spawn().await;
    for id in 0..EVENTS {
        let app = if id % 2 == 0 { &one } else { &two };
        post_event(app, message(100 + id, "둘", &format!("cb-pg-{id}"))).await;
        // Every event delivered to both, as a redelivery would be.
        let other = if id % 2 == 0 { &two } else { &one };
        post_event(other, message(100 + id, "둘", &format!("cb-pg-{id}"))).await;
    }
    delivered(&kakao, EVENTS as usize).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let calls = kakao.platform.calls();
    assert_eq!(
        calls.len(),
        2 * EVENTS as usize,
        "one failed and one delivered callback per event: {calls:?}"
    );
    let delivered = kakao.platform.delivered(CALLBACK);
    let mut tokens: Vec<_> = delivered
        .iter()
        .filter_map(|c| c.callback_token.clone())
        .collect();
    tokens.sort();
    tokens.dedup();
    assert_eq!(tokens.len(), EVENTS as usize);
    one.stop().await.unwrap();
    two.stop().await.unwrap();
    database.drop().await;
}

#[tokio::test]
async fn rooms_follow_entrance_and_leave() {
    let kakao = KakaoBotApi::start().await;
    let app = bot_app(&kakao).spawn().await;
    let entrance = json!({"op":0,"t":"ENTRANCE","d":{"botGroupKey":"room-a","inviter":{"botUserKey":"u1"},
        "params":{},"timestamp":"2026-07-27T09:00:00Z","callbackToken":"cb-hello","type":"ENTRANCE"}});
    post_event(&app, entrance.to_string()).await;
    let (status, room) = app.api_get("/api/bot/rooms/room-a").await;
    assert_eq!(status, 200);
    assert_eq!(room["present"], true);
    assert_eq!(room["joined_at"], "2026-07-27T09:00:00Z");
    // The demo bot greets the room.
    let calls = delivered(&kakao, 1).await;
    assert_eq!(calls[0].callback_token.as_deref(), Some("cb-hello"));

    let leave = json!({"op":0,"t":"LEAVE","d":{"botGroupKey":"room-a","timestamp":"2026-07-27T10:00:00Z","type":"LEAVE"}});
    post_event(&app, leave.to_string()).await;
    // An ENTRANCE older than the LEAVE, arriving late, changes nothing.
    let stale = json!({"op":0,"t":"ENTRANCE","d":{"botGroupKey":"room-a","timestamp":"2026-07-27T09:30:00Z"}});
    post_event(&app, stale.to_string()).await;
    let (_, rooms) = app.api_get("/api/bot/rooms").await;
    assert_eq!(rooms["rooms"].as_array().unwrap().len(), 1);
    let room = &rooms["rooms"][0];
    assert_eq!(room["bot_group_key"], "room-a");
    assert_eq!(room["present"], false);
    assert_eq!(room["left_at"], "2026-07-27T10:00:00Z");
    let (status, _) = app.api_get("/api/bot/rooms/nowhere").await;
    assert_eq!(status, 404);
}

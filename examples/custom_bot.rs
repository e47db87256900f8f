//! A bot of your own on kakao-webhooks: routing, a handler with state, system
//! entities, and a slow answer that goes out through Kakao's callback.
//!
//! Run it like the service itself (same settings, same routes):
//!
//! ```sh
//! cargo run --example custom_bot
//! curl -s localhost:8080/kakao/skill -H 'content-type: application/json' \
//!   -d '{"userRequest":{"utterance":"주문","block":{"id":"b1","name":"주문"},"user":{"id":"u1"}}}'
//! ```

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use async_trait::async_trait;
use kakao_webhooks::{
    Server, Settings,
    server::app::shutdown_on_signal,
    skill::{
        SkillHandler, SkillRequest, SkillResponse, SkillRouter,
        components::{ItemCard, ItemListAlignment},
        response::{Button, QuickReply},
    },
    telemetry,
};
use serde::Deserialize;

/// A handler with state: numbers each order.
struct Orders {
    next: AtomicU64,
}

#[async_trait]
impl SkillHandler for Orders {
    async fn handle(&self, request: SkillRequest) -> anyhow::Result<SkillResponse> {
        let number = self.next.fetch_add(1, Ordering::Relaxed);
        // "sys_date" arrives as JSON inside a string; `entity` reads either form.
        #[derive(Deserialize)]
        struct SysDate {
            date: String,
        }
        let date = request
            .action
            .entity::<SysDate>("sys_date")
            .map_or_else(|| "오늘".to_owned(), |d| d.date);
        let card = ItemCard::new()
            .head(format!("주문 #{number}"))
            .item("날짜", date)
            .item("상품", "아메리카노")
            .alignment(ItemListAlignment::Right)
            .summary("합계", "1,800원")
            .button(Button::message("취소", format!("{number}번 주문 취소")));
        Ok(SkillResponse::new()
            .output(card)
            .quick_reply(QuickReply::message("날씨", "날씨")))
    }
}

/// Slower than OpenBuilder's 5 seconds allow: on a callback-enabled block the
/// service answers "useCallback" at once and POSTs this when it is ready.
async fn weather(_request: SkillRequest) -> anyhow::Result<SkillResponse> {
    tokio::time::sleep(Duration::from_secs(6)).await;
    Ok(SkillResponse::text("내일은 맑아요 ☀️"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::load(None)?;
    telemetry::init_logging(settings.log_format);
    let bot = SkillRouter::new()
        .block_name(
            "주문",
            Orders {
                next: AtomicU64::new(1),
            },
        )
        .action_name("날씨 스킬", weather)
        .fallback(|request: SkillRequest| async move {
            Ok(SkillResponse::text(format!(
                "'{}'(은)는 아직 모르는 말이에요.",
                request.user_request.utterance.trim()
            )))
        });
    let server = Server::build(settings, Arc::new(bot)).await?;
    server.run(shutdown_on_signal()).await
}

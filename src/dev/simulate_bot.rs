//! `simulate bot`: a chatroom event posted to `/kakao/bot` as Kakao sends it,
//! then the bot's reply awaited at the dev server's local platform
//! (`/dev/bot/calls`), printed and checked against the Bot API's rules.

use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, ValueEnum};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use super::simulate::{Simulator, pretty, resource_id, verdict};
use crate::{
    bot::{Room, check_reply},
    skill::SkillResponse,
};

/// Kakao wants the webhook's 2xx within this.
const ACK_DEADLINE: Duration = Duration::from_secs(1);
/// How long to wait for the reply at the local platform.
const REPLY_WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, Args)]
pub struct BotSimulation {
    /// A user's message (MESSAGE_CREATE) with this text.
    #[arg(long, conflicts_with = "event", required_unless_present = "event")]
    text: Option<String>,
    /// Another event instead of a message.
    #[arg(long, value_enum)]
    event: Option<BotEventKind>,
    /// The room's botGroupKey.
    #[arg(long, default_value = "simulated-room")]
    group: String,
    /// The sender's botUserKey.
    #[arg(long, default_value = "simulated-user")]
    user: String,
    /// A channel (1:1) chat rather than a group room.
    #[arg(long)]
    channel: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum BotEventKind {
    /// The bot was let into a room.
    Entrance,
    /// The bot was removed from a room.
    Leave,
    /// A user joined a room the bot is in.
    ChatJoin,
}

impl Simulator {
    pub(super) async fn bot(&self, simulation: BotSimulation) -> anyhow::Result<bool> {
        let token = format!("sim-{}", resource_id());
        let frame = frame(&simulation, &token);
        // Only a message is answered; a join, an entrance or a leave may get
        // a reply, but nothing waits for one.
        let expects_reply = simulation.event.is_none();
        let message_id = frame["d"]["id"].to_string();
        if self.settings.kakao_bot_gateway {
            if !self.over_gateway(&frame).await? {
                return Ok(verdict(false, "the dev gateway did not take the event"));
            }
            return self
                .reply_verdict(&simulation, (&token, &message_id), expects_reply)
                .await;
        }
        let mut request = self
            .client
            .post(self.url("/kakao/bot"))
            .header("content-type", "application/json")
            .body(frame.to_string());
        let header = &self.settings.kakao_bot_webhook_header;
        if let Some(secret) = &self.settings.kakao_bot_webhook_secret {
            request = request.header(header, secret.expose_secret());
        }
        println!("→ POST {}\n{}", self.url("/kakao/bot"), pretty(&frame));
        let started = Instant::now();
        let response = request.send().await.context("the server did not answer")?;
        let took = started.elapsed();
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        println!("← {status} in {} ms {body}", took.as_millis());
        if status == reqwest::StatusCode::NOT_FOUND && body.contains("gateway") {
            println!("  the server receives bot events over its gateway: sending it there");
            if !self.over_gateway(&frame).await? {
                return Ok(verdict(false, "the dev gateway did not take the event"));
            }
            return self
                .reply_verdict(&simulation, (&token, &message_id), expects_reply)
                .await;
        }
        if !status.is_success() {
            return Ok(verdict(false, "Kakao wants a 2xx for every event"));
        }
        if took > ACK_DEADLINE {
            return Ok(verdict(false, "Kakao wants the answer within 1 second"));
        }
        self.reply_verdict(&simulation, (&token, &message_id), expects_reply)
            .await
    }

    /// Hands the frame's event to the dev server's gateway, which sends it to
    /// the connected bot as a DISPATCH.
    async fn over_gateway(&self, frame: &Value) -> anyhow::Result<bool> {
        let url = self.url("/dev/bot/gateway/dispatch");
        println!("→ DISPATCH over the dev gateway ({url})\n{}", pretty(frame));
        let response = self
            .client
            .post(url)
            .json(&json!({"t": frame["t"], "d": frame["d"]}))
            .send()
            .await
            .context("the server did not answer")?;
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        println!("← {status} {body}");
        Ok(status.is_success())
    }

    /// Waits for the reply to the event with callback `token`, and judges it.
    async fn reply_verdict(
        &self,
        simulation: &BotSimulation,
        (token, message_id): (&str, &str),
        expects_reply: bool,
    ) -> anyhow::Result<bool> {
        if !expects_reply {
            return Ok(verdict(true, ""));
        }
        let call = match self.wait_for_reply(token, message_id).await? {
            Reply::Sent(call) => call,
            Reply::NoneChosen => {
                println!(
                    "← the bot chose not to reply (its handler answered none, or the app 204)"
                );
                return Ok(verdict(true, ""));
            }
            Reply::NotYet => {
                return Ok(verdict(
                    false,
                    "no reply reached the callback API within 10 s (is the server started with `serve --dev`?)",
                ));
            }
        };
        println!(
            "← the bot's callback ({} from the platform):\n{}",
            call["status"],
            pretty(&call["body"])
        );
        let response: SkillResponse =
            match serde_json::from_value(call["body"]["skillResponse"].clone()) {
                Ok(response) => response,
                Err(err) => {
                    return Ok(verdict(
                        false,
                        &format!("skillResponse is not a SkillResponse: {err}"),
                    ));
                }
            };
        let room = if simulation.channel {
            Room::Channel
        } else {
            Room::Group
        };
        let (checked, warnings) = check_reply(&response, room);
        for warning in warnings {
            println!("! {warning}");
        }
        if let Err(violations) = checked {
            return Ok(verdict(false, &violations.to_string()));
        }
        let accepted = call["status"]
            .as_u64()
            .is_some_and(|s| (200..300).contains(&s));
        Ok(verdict(accepted, "the platform refused the callback"))
    }

    /// The platform's record of the callback that used `token`, or word
    /// from the server that none will come.
    async fn wait_for_reply(&self, token: &str, message_id: &str) -> anyhow::Result<Reply> {
        let url = self.url("/dev/bot/calls");
        let status_url = self.url(&format!("/dev/bot/replies/{message_id}"));
        let started = Instant::now();
        while started.elapsed() < REPLY_WAIT {
            let skipped = match self.client.get(status_url.clone()).send().await {
                Ok(answer) => answer
                    .json::<Value>()
                    .await
                    .is_ok_and(|body| body["status"] == "skipped"),
                Err(_) => false,
            };
            if skipped {
                return Ok(Reply::NoneChosen);
            }
            let response = self.client.get(url.clone()).send().await?;
            anyhow::ensure!(
                response.status().is_success(),
                "{url} answered {}: simulate bot needs a server started with `serve --dev`",
                response.status()
            );
            let calls: Vec<Value> = response
                .json()
                .await
                .context("/dev/bot/calls is not JSON")?;
            if let Some(call) = calls
                .into_iter()
                .find(|c| c["path"] == "/v1/bot/callback" && c["callback_token"] == token)
            {
                return Ok(Reply::Sent(call));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(Reply::NotYet)
    }
}

/// What became of the reply to a simulated event.
enum Reply {
    /// The platform's record of the callback.
    Sent(Value),
    /// The bot chose not to reply: its outbox row ended `skipped`.
    NoneChosen,
    NotYet,
}

/// The frame Kakao would send for `simulation`.
fn frame(simulation: &BotSimulation, token: &str) -> Value {
    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let group = &simulation.group;
    let user = &simulation.user;
    let (t, d) = match simulation.event {
        None => {
            // Above 2^53, as Kakao's ids are: a double would change it.
            let id = (1u64 << 59) + random_low();
            (
                "MESSAGE_CREATE",
                json!({"id": id, "content": simulation.text.clone().unwrap_or_default(),
                       "isChannelChatroom": simulation.channel, "botGroupKey": group,
                       "botUserKey": user, "timestamp": now, "callbackToken": token}),
            )
        }
        Some(BotEventKind::Entrance) => (
            "ENTRANCE",
            json!({"botGroupKey": group, "inviter": {"botUserKey": user}, "params": {},
                   "timestamp": now, "callbackToken": token}),
        ),
        Some(BotEventKind::ChatJoin) => (
            "CHAT_JOIN",
            json!({"botGroupKey": group, "botUserKey": user, "timestamp": now,
                   "callbackToken": token}),
        ),
        Some(BotEventKind::Leave) => ("LEAVE", json!({"botGroupKey": group, "timestamp": now})),
    };
    let mut d = d;
    d["type"] = json!(t);
    json!({"op": 0, "t": t, "d": d})
}

fn random_low() -> u64 {
    let mut bytes = [0u8; 4];
    let _ = getrandom::fill(&mut bytes);
    u64::from(u32::from_le_bytes(bytes))
}

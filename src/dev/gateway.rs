//! A local Bot API gateway under `/dev/bot/gateway`, for `serve --dev` with
//! `KAKAO_BOT_GATEWAY=true`: the same protocol as Kakao's (HELLO, IDENTIFY
//! or RESUME with the bot token, READY, HEARTBEAT_ACK, DISPATCH; 4001 for a
//! wrong token, 4004 to the older of two connections). `simulate bot` hands
//! it an event with `POST /dev/bot/gateway/dispatch`, and it sends that to
//! the connected bot as a DISPATCH.

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicI64, Ordering},
};

use axum::{
    Json,
    extract::{
        State,
        ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade},
    },
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

use crate::{
    bot::gateway::protocol::{DEFAULT_HEARTBEAT_MS, HEARTBEAT, IDENTIFY, RESUME},
    http::routes::Routes,
};

pub const PATH: &str = "/dev/bot/gateway";
const SESSION: &str = "dev-session";

#[derive(Clone)]
struct DevGateway {
    token: Arc<str>,
    /// The connected bot's outbox, once it is READY.
    bot: Arc<Mutex<Option<mpsc::UnboundedSender<Message>>>>,
    seq: Arc<AtomicI64>,
}

/// The gateway's routes, accepting `token` as the bot token.
pub fn router(token: &str) -> Routes {
    let gateway = DevGateway {
        token: token.into(),
        bot: Arc::default(),
        seq: Arc::default(),
    };
    Routes::new()
        .route(PATH, get(upgrade))
        .route(&format!("{PATH}/dispatch"), post(dispatch))
        .with_state(gateway)
}

async fn upgrade(State(gateway): State<DevGateway>, ws: WebSocketUpgrade) -> Response {
    ws.max_message_size(1024 * 1024)
        .on_upgrade(move |socket| serve(gateway, socket))
}

fn text(frame: Value) -> Message {
    Message::Text(frame.to_string().into())
}

fn close(code: u16, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}

async fn serve(gateway: DevGateway, mut socket: WebSocket) {
    let hello = json!({"op": 10, "d": {"heartbeat_interval": DEFAULT_HEARTBEAT_MS}});
    if socket.send(text(hello)).await.is_err() {
        return;
    }
    // IDENTIFY or RESUME, with the bot token.
    let Some(Ok(Message::Text(first))) = socket.recv().await else {
        return;
    };
    let first: Value = serde_json::from_str(&first).unwrap_or(Value::Null);
    let op = first["op"].as_u64();
    if !matches!(op, Some(IDENTIFY | RESUME)) {
        let _ = socket
            .send(close(4003, "IDENTIFY or RESUME expected"))
            .await;
        return;
    }
    if first["d"]["token"].as_str() != Some(&*gateway.token) {
        let _ = socket.send(close(4001, "authentication failed")).await;
        return;
    }
    let ready = json!({"op": 3, "d": {"session_id": SESSION}});
    if socket.send(text(ready)).await.is_err() {
        return;
    }
    let (sender, mut outgoing) = mpsc::unbounded_channel();
    let replaced = gateway
        .bot
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .replace(sender.clone());
    if let Some(older) = replaced {
        let _ = older.send(close(4004, "replaced by another connection"));
    }
    loop {
        tokio::select! {
            out = outgoing.recv() => {
                let Some(message) = out else { return };
                let closing = matches!(message, Message::Close(_));
                if socket.send(message).await.is_err() || closing {
                    return;
                }
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(frame))) => {
                    let frame: Value = serde_json::from_str(&frame).unwrap_or(Value::Null);
                    if frame["op"].as_u64() == Some(HEARTBEAT) {
                        let _ = sender.send(text(json!({"op": 11})));
                    }
                }
                Some(Ok(_)) => {}
                _ => return,
            },
        }
    }
}

#[derive(Deserialize)]
struct Event {
    t: String,
    d: Map<String, Value>,
}

/// Sends `{t, d}` to the connected bot as the next DISPATCH.
async fn dispatch(State(gateway): State<DevGateway>, Json(event): Json<Event>) -> Response {
    let bot = gateway
        .bot
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let Some(bot) = bot.filter(|bot| !bot.is_closed()) else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"error": "no_bot", "message": "no bot is connected to the dev gateway"})),
        )
            .into_response();
    };
    let s = gateway.seq.fetch_add(1, Ordering::SeqCst) + 1;
    let frame = json!({"op": 0, "s": s, "t": event.t, "d": event.d});
    if bot.send(text(frame)).is_err() {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    (StatusCode::ACCEPTED, Json(json!({"s": s}))).into_response()
}

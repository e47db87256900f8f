//! One gateway connection, from connect to its end: HELLO, IDENTIFY or
//! RESUME, READY, then heartbeats beside the DISPATCHes. Each DISPATCH goes
//! down the webhook's path (stored with its dedupe and reply job) before its
//! `s` is recorded; if it cannot be stored, the connection ends and the next
//! one RESUMEs from the last stored `s`, so Kakao sends it again.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use secrecy::ExposeSecret;
use serde_json::{Map, Value};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::{Message, protocol::WebSocketConfig};

use super::{
    Gateway,
    protocol::{self, Incoming},
};
use crate::{
    delivery::{Family, log::record_gateway_event},
    http::error::ApiError,
    storage::{NewEvent, Recorded, gateway::GatewaySession},
    telemetry::{Chain, loggable},
};

/// Largest frame or message read: events are small; a peer cannot make us
/// buffer more.
const MAX_FRAME: usize = 1024 * 1024;
/// For the TCP, TLS and WebSocket handshakes, and for HELLO and READY.
const HANDSHAKE: Duration = Duration::from_secs(10);

/// How a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// Reconnect and RESUME (a network drop, 1001, a dead link, storage down).
    Retry { reason: &'static str, ready: bool },
    /// 4009: the session is gone; IDENTIFY afresh.
    SessionExpired,
    /// Closed before READY after a RESUME: IDENTIFY afresh.
    ResumeFailed,
    /// 4001, 4003, 4004: reconnecting cannot help.
    Fatal { code: u16, cause: &'static str },
}

fn retry(reason: &'static str, ready: bool) -> End {
    End::Retry { reason, ready }
}

/// What a close code means for the next connection.
fn on_close(code: u16, resuming: bool, ready: bool) -> End {
    match code {
        4001 => End::Fatal {
            code,
            cause: "authentication failed: KAKAO_BOT_TOKEN is wrong",
        },
        4003 => End::Fatal {
            code,
            cause: "Kakao found a frame we sent invalid",
        },
        4004 => End::Fatal {
            code,
            cause: "replaced: another connection identified with this bot token",
        },
        4009 => End::SessionExpired,
        _ if resuming && !ready => End::ResumeFailed,
        _ => retry("closed", ready),
    }
}

pub(super) async fn run(gateway: &Gateway, session: Option<GatewaySession>) -> End {
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_FRAME))
        .max_frame_size(Some(MAX_FRAME));
    let connect =
        tokio_tungstenite::connect_async_with_config(gateway.url.as_str(), Some(config), true);
    let mut socket = match tokio::time::timeout(HANDSHAKE, connect).await {
        Ok(Ok((socket, _))) => socket,
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "bot gateway: cannot connect");
            return retry("connect_failed", false);
        }
        Err(_) => return retry("connect_timeout", false),
    };
    let heartbeat = match tokio::time::timeout(HANDSHAKE, socket.next()).await {
        Ok(Some(Ok(Message::Text(text)))) => match Incoming::parse(&text) {
            Ok(Incoming::Hello {
                heartbeat_interval_ms,
            }) => Duration::from_millis(heartbeat_interval_ms),
            _ => return retry("no_hello", false),
        },
        Ok(Some(Ok(Message::Close(frame)))) => {
            return on_close(close_code(frame.as_ref()), false, false);
        }
        _ => return retry("no_hello", false),
    };
    let token = gateway.token.expose_secret();
    let (first, resuming) = match &session {
        Some(known) => (protocol::resume(token, &known.session_id, known.seq), true),
        None => (protocol::identify(token), false),
    };
    if socket.send(Message::text(first)).await.is_err() {
        return retry("send_failed", false);
    }

    let mut ready = false;
    let mut next_beat = Instant::now() + heartbeat.mul_f64(0.9);
    let mut ack_due: Option<Instant> = None;
    let ready_by = Instant::now() + HANDSHAKE;
    loop {
        let ack_deadline = ack_due.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            () = tokio::time::sleep_until(ready_by), if !ready => {
                return if resuming { End::ResumeFailed } else { retry("no_ready", false) };
            }
            () = tokio::time::sleep_until(ack_deadline), if ack_due.is_some() => {
                tracing::warn!("bot gateway: no HEARTBEAT_ACK within the interval; reconnecting");
                return retry("heartbeat_timeout", ready);
            }
            () = tokio::time::sleep_until(next_beat) => {
                if socket.send(Message::text(protocol::heartbeat())).await.is_err() {
                    return retry("send_failed", ready);
                }
                ack_due.get_or_insert(Instant::now() + heartbeat);
                next_beat = Instant::now() + heartbeat.mul_f64(0.9);
            }
            message = socket.next() => {
                let text = match message {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Close(frame))) => {
                        return on_close(close_code(frame.as_ref()), resuming, ready);
                    }
                    Some(Ok(Message::Binary(_))) => {
                        tracing::warn!("bot gateway: a binary frame; ignored");
                        continue;
                    }
                    Some(Ok(_)) => continue, // ping and pong: answered by the library
                    Some(Err(err)) => {
                        tracing::warn!(error = %err, "bot gateway: the connection failed");
                        return if resuming && !ready { End::ResumeFailed } else { retry("network", ready) };
                    }
                    None => return if resuming && !ready { End::ResumeFailed } else { retry("closed", ready) },
                };
                match Incoming::parse(&text) {
                    Ok(Incoming::HeartbeatAck) => ack_due = None,
                    Ok(Incoming::Ready { session_id }) => {
                        if let Err(err) = gateway.storage.save_gateway_session(&session_id).await {
                            tracing::warn!(error = %Chain(&err), "bot gateway: cannot store the session");
                            return retry("storage_unavailable", ready);
                        }
                        ready = true;
                        gateway.status.connected();
                        tracing::info!(resumed = resuming, "bot gateway: ready");
                    }
                    Ok(Incoming::Dispatch { s, t, d }) if ready => {
                        if let Err(reason) = dispatch(gateway, s, &t, &d).await {
                            return retry(reason, ready);
                        }
                    }
                    Ok(Incoming::Dispatch { .. }) => {
                        tracing::warn!("bot gateway: DISPATCH before READY; ignored");
                    }
                    Ok(Incoming::Hello { .. }) => {}
                    Ok(Incoming::Unknown { op }) => {
                        tracing::info!(op, "bot gateway: unknown opcode; ignored");
                    }
                    Err(err) => {
                        tracing::warn!(error = %loggable(&err.to_string()), "bot gateway: unreadable frame; ignored");
                    }
                }
            }
        }
    }
}

/// Stores the event as the webhook does, then records `s`. `Err` ends the
/// connection: nothing after an unstored event may be acknowledged.
async fn dispatch(
    gateway: &Gateway,
    s: Option<i64>,
    t: &str,
    d: &Map<String, Value>,
) -> Result<(), &'static str> {
    let body = protocol::webhook_body(t, d);
    match crate::bot::webhook::event_of(&body) {
        Ok(event) => match stored(gateway, event).await {
            Ok(recorded) => {
                if recorded
                    .iter()
                    .any(|r| matches!(r, Recorded::Stored { .. }))
                {
                    gateway.outbox.wake();
                }
                record_lag(d);
            }
            Err(_) => return Err("storage_unavailable"),
        },
        // Unusable as a webhook body is unusable here: skipped, not retried.
        Err(err) => tracing::warn!(
            t = %loggable(t),
            error = %loggable(&err.message),
            "bot gateway: DISPATCH cannot be stored; skipped"
        ),
    }
    if let Some(s) = s {
        if let Err(err) = gateway.storage.save_gateway_seq(s).await {
            tracing::warn!(error = %Chain(&err), "bot gateway: cannot record the sequence");
            return Err("storage_unavailable");
        }
        metrics::gauge!("kakao_bot_gateway_last_sequence").set(s as f64);
    }
    Ok(())
}

/// Stores `event` as the webhook does, and counts it as the webhook's are.
async fn stored(gateway: &Gateway, event: NewEvent) -> Result<Vec<Recorded>, ApiError> {
    let started = std::time::Instant::now();
    let event_type = event.event_type.clone();
    let result = Family::BOT.store(&gateway.storage, &[event]).await;
    let outcome = result.as_deref().map_err(|_| ());
    record_gateway_event(&gateway.deliveries, &event_type, outcome, started.elapsed());
    result
}

/// From the event's own time to now, when Kakao says when it happened.
fn record_lag(d: &Map<String, Value>) {
    let at = d
        .get("timestamp")
        .and_then(Value::as_str)
        .and_then(crate::clock::parse_rfc3339);
    if let Some(at) = at {
        let lag = (crate::clock::now_millis() - at).max(0) as f64 / 1000.0;
        metrics::histogram!("kakao_bot_gateway_event_lag_seconds").record(lag);
    }
}

fn close_code(frame: Option<&tokio_tungstenite::tungstenite::protocol::CloseFrame>) -> u16 {
    frame.map_or(1005, |frame| u16::from(frame.code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_codes_decide_what_comes_next() {
        assert!(matches!(
            on_close(4001, false, true),
            End::Fatal { code: 4001, .. }
        ));
        assert!(matches!(
            on_close(4003, true, false),
            End::Fatal { code: 4003, .. }
        ));
        assert!(matches!(
            on_close(4004, false, true),
            End::Fatal { code: 4004, .. }
        ));
        assert_eq!(on_close(4009, true, true), End::SessionExpired);
        assert_eq!(on_close(1001, false, true), retry("closed", true));
        assert_eq!(on_close(1001, true, false), End::ResumeFailed);
        assert_eq!(on_close(4999, false, true), retry("closed", true));
    }
}

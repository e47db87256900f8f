//! The gateway's frames: `{"op", "d", "s", "t"}` (Discord-style), read into
//! a typed [`Incoming`] or a typed error, and the three frames a bot sends.
//! Facts: `../shared/kakao/bot-api-notes.md` §3.

use serde::Deserialize;
use serde_json::{Map, Value, json};

pub const DISPATCH: u64 = 0;
pub const HEARTBEAT: u64 = 1;
pub const IDENTIFY: u64 = 2;
pub const READY: u64 = 3;
pub const RESUME: u64 = 6;
pub const HELLO: u64 = 10;
pub const HEARTBEAT_ACK: u64 = 11;

/// Kakao's documented default, used when HELLO names no usable interval.
pub const DEFAULT_HEARTBEAT_MS: u64 = 41_250;

/// A frame from Kakao.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    Hello {
        heartbeat_interval_ms: u64,
    },
    Ready {
        session_id: String,
    },
    HeartbeatAck,
    Dispatch {
        s: Option<i64>,
        t: String,
        d: Map<String, Value>,
    },
    /// An opcode we do not know: logged and ignored.
    Unknown {
        op: u64,
    },
}

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FrameError {
    #[error("the frame is not a JSON object with a numeric op: {0}")]
    Malformed(String),
    #[error("READY without a d.session_id")]
    ReadyWithoutSession,
    #[error("DISPATCH without a t (event type)")]
    DispatchWithoutType,
    #[error("DISPATCH without a d object")]
    DispatchWithoutPayload,
}

#[derive(Deserialize)]
struct Raw {
    op: u64,
    #[serde(default)]
    d: Value,
    #[serde(default)]
    s: Option<i64>,
    #[serde(default)]
    t: Option<String>,
}

impl Incoming {
    pub fn parse(text: &str) -> Result<Self, FrameError> {
        let raw: Raw =
            serde_json::from_str(text).map_err(|err| FrameError::Malformed(err.to_string()))?;
        Ok(match raw.op {
            HELLO => Incoming::Hello {
                heartbeat_interval_ms: raw
                    .d
                    .get("heartbeat_interval")
                    .and_then(Value::as_u64)
                    // A zero or absurd interval would flood or starve the link.
                    .filter(|ms| (1_000..=600_000).contains(ms))
                    .unwrap_or(DEFAULT_HEARTBEAT_MS),
            },
            READY => Incoming::Ready {
                session_id: raw
                    .d
                    .get("session_id")
                    .and_then(Value::as_str)
                    .filter(|id| !id.is_empty())
                    .ok_or(FrameError::ReadyWithoutSession)?
                    .to_owned(),
            },
            HEARTBEAT_ACK => Incoming::HeartbeatAck,
            DISPATCH => Incoming::Dispatch {
                s: raw.s,
                t: raw
                    .t
                    .filter(|t| !t.trim().is_empty())
                    .ok_or(FrameError::DispatchWithoutType)?,
                d: match raw.d {
                    Value::Object(d) => d,
                    _ => return Err(FrameError::DispatchWithoutPayload),
                },
            },
            op => Incoming::Unknown { op },
        })
    }
}

pub fn identify(token: &str) -> String {
    json!({"op": IDENTIFY, "d": {"token": token}}).to_string()
}

/// `d.seq` as the official text says (one client used `sequence`: Kakao
/// may ignore it; a failed RESUME falls back to IDENTIFY).
pub fn resume(token: &str, session_id: &str, seq: Option<i64>) -> String {
    json!({"op": RESUME, "d": {"token": token, "session_id": session_id, "seq": seq}}).to_string()
}

pub fn heartbeat() -> String {
    json!({"op": HEARTBEAT}).to_string()
}

/// The webhook's body for a DISPATCH: the same frame Kakao would POST.
pub fn webhook_body(t: &str, d: &Map<String, Value>) -> Vec<u8> {
    serde_json::to_vec(&json!({"op": DISPATCH, "t": t, "d": d})).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_read_into_their_types() {
        assert_eq!(
            Incoming::parse(r#"{"op":10,"d":{"heartbeat_interval":41250}}"#),
            Ok(Incoming::Hello {
                heartbeat_interval_ms: 41_250
            })
        );
        assert_eq!(
            Incoming::parse(r#"{"op":10,"d":{"heartbeat_interval":0}}"#),
            Ok(Incoming::Hello {
                heartbeat_interval_ms: DEFAULT_HEARTBEAT_MS
            })
        );
        assert_eq!(
            Incoming::parse(r#"{"op":3,"d":{"session_id":"s-1"}}"#),
            Ok(Incoming::Ready {
                session_id: "s-1".into()
            })
        );
        assert_eq!(Incoming::parse(r#"{"op":11}"#), Ok(Incoming::HeartbeatAck));
        assert_eq!(
            Incoming::parse(r#"{"op":42,"d":null}"#),
            Ok(Incoming::Unknown { op: 42 })
        );
        let Ok(Incoming::Dispatch { s, t, d }) =
            Incoming::parse(r#"{"op":0,"s":7,"t":"MESSAGE_CREATE","d":{"id":869509512613945331}}"#)
        else {
            panic!("not a dispatch");
        };
        assert_eq!((s, t.as_str()), (Some(7), "MESSAGE_CREATE"));
        assert_eq!(d["id"].to_string(), "869509512613945331", "kept exact");
    }

    #[test]
    fn a_bad_frame_is_a_typed_error() {
        assert!(matches!(
            Incoming::parse("not json"),
            Err(FrameError::Malformed(_))
        ));
        assert!(matches!(
            Incoming::parse(r#"{"op":"x"}"#),
            Err(FrameError::Malformed(_))
        ));
        assert_eq!(
            Incoming::parse(r#"{"op":3,"d":{}}"#),
            Err(FrameError::ReadyWithoutSession)
        );
        assert_eq!(
            Incoming::parse(r#"{"op":0,"d":{}}"#),
            Err(FrameError::DispatchWithoutType)
        );
        assert_eq!(
            Incoming::parse(r#"{"op":0,"t":"X","d":[1]}"#),
            Err(FrameError::DispatchWithoutPayload)
        );
    }

    #[test]
    fn resume_carries_the_session_and_last_sequence() {
        let frame: Value = serde_json::from_str(&resume("tok", "s-1", Some(9))).unwrap();
        assert_eq!(
            frame,
            json!({"op": 6, "d": {"token": "tok", "session_id": "s-1", "seq": 9}})
        );
    }
}

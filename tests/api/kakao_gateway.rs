//! Kakao's Bot API gateway, played locally by a real WebSocket server: each
//! connection the service makes is handed to the test, which scripts
//! Kakao's side (HELLO, READY, DISPATCH, close codes) and reads what the
//! service sends. Heartbeats are answered with HEARTBEAT_ACK unless a test
//! turns that off.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::{
    Message,
    protocol::{CloseFrame, frame::coding::CloseCode},
};

pub struct KakaoGateway {
    pub addr: SocketAddr,
    connections: mpsc::UnboundedReceiver<GatewayConnection>,
}

/// One connection of the service, seen from Kakao's side.
pub struct GatewayConnection {
    from_bot: mpsc::UnboundedReceiver<(Instant, Value)>,
    to_bot: mpsc::UnboundedSender<Message>,
    auto_ack: Arc<AtomicBool>,
}

impl KakaoGateway {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (sender, connections) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let Ok(socket) = tokio_tungstenite::accept_async(tcp).await else {
                    continue;
                };
                let (mut sink, mut stream) = socket.split();
                let (to_bot, mut outgoing) = mpsc::unbounded_channel::<Message>();
                let (received, from_bot) = mpsc::unbounded_channel();
                let auto_ack = Arc::new(AtomicBool::new(true));
                let acks = to_bot.clone();
                let acking = auto_ack.clone();
                tokio::spawn(async move {
                    while let Some(message) = outgoing.recv().await {
                        let closing = matches!(message, Message::Close(_));
                        if sink.send(message).await.is_err() || closing {
                            break;
                        }
                    }
                });
                tokio::spawn(async move {
                    while let Some(Ok(message)) = stream.next().await {
                        let Message::Text(text) = message else {
                            continue;
                        };
                        let frame: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                        if frame["op"] == 1 && acking.load(Ordering::SeqCst) {
                            let _ = acks.send(Message::text(json!({"op": 11}).to_string()));
                        }
                        let _ = received.send((Instant::now(), frame));
                    }
                });
                let connection = GatewayConnection {
                    from_bot,
                    to_bot,
                    auto_ack,
                };
                if sender.send(connection).is_err() {
                    break;
                }
            }
        });
        Self { addr, connections }
    }

    pub fn url(&self) -> String {
        format!("ws://{}/gateway", self.addr)
    }

    /// The service's next connection, or a panic after `limit`.
    pub async fn next_connection(&mut self, limit: Duration) -> GatewayConnection {
        tokio::time::timeout(limit, self.connections.recv())
            .await
            .expect("the service did not connect in time")
            .unwrap()
    }

    /// Whether the service connects again within `limit`.
    pub async fn connects_within(&mut self, limit: Duration) -> bool {
        tokio::time::timeout(limit, self.connections.recv())
            .await
            .is_ok()
    }
}

impl GatewayConnection {
    pub fn send(&self, frame: Value) {
        let _ = self.to_bot.send(Message::text(frame.to_string()));
    }

    pub fn send_raw(&self, message: Message) {
        let _ = self.to_bot.send(message);
    }

    pub fn close(&self, code: u16) {
        let _ = self.to_bot.send(Message::Close(Some(CloseFrame {
            code: CloseCode::from(code),
            reason: "".into(),
        })));
    }

    pub fn stop_acking(&self) {
        self.auto_ack.store(false, Ordering::SeqCst);
    }

    /// The next frame the service sends with opcode `op` (others skipped),
    /// and when it came.
    pub async fn recv_op(&mut self, op: u64, limit: Duration) -> (Instant, Value) {
        tokio::time::timeout(limit, async {
            loop {
                let (at, frame) = self.from_bot.recv().await.expect("the connection ended");
                if frame["op"] == op {
                    return (at, frame);
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no op {op} from the service in time"))
    }

    /// HELLO with `interval_ms`; returns the IDENTIFY or RESUME that follows.
    pub async fn hello(&mut self, interval_ms: u64) -> Value {
        self.send(json!({"op": 10, "d": {"heartbeat_interval": interval_ms}}));
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let (_, frame) = self.from_bot.recv().await.expect("the connection ended");
                if frame["op"] == 2 || frame["op"] == 6 {
                    return frame;
                }
            }
        })
        .await
        .expect("no IDENTIFY or RESUME after HELLO")
    }

    pub fn ready(&self, session_id: &str) {
        self.send(json!({"op": 3, "d": {"session_id": session_id}}));
    }

    /// A MESSAGE_CREATE under sequence `s`.
    pub fn dispatch_message(&self, s: i64, id: u64, token: &str) {
        self.send(json!({"op": 0, "s": s, "t": "MESSAGE_CREATE", "d": {
            "id": id, "content": "안녕", "isChannelChatroom": false,
            "botGroupKey": "g1", "botUserKey": "u1",
            "timestamp": "2026-07-27T09:20:22.512392989Z", "callbackToken": token,
            "type": "MESSAGE_CREATE"}}));
    }
}

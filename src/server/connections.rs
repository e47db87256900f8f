//! Accepting connections, and bounding what a client can hold.
//!
//! `axum::serve` sets no timer, so a client that sends its headers a byte
//! at a time, or opens connections and says nothing, keeps a file descriptor
//! and a task for as long as it likes. Here each listener caps its open
//! connections, and a watchdog per connection cuts one that takes longer
//! than `HEADER_READ_TIMEOUT_MS` to send a request's headers or sits idle
//! between requests longer than `KEEP_ALIVE_TIMEOUT_MS`. hyper's own header
//! timer is off: it counts idle time and header time as one, and it arms a
//! boxed timer for every request, where the watchdog has one per connection.

use std::{
    convert::Infallible,
    net::SocketAddr,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use axum::extract::ConnectInfo;
use hyper::{Request, body::Incoming};
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::conn::auto,
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpListener,
    sync::{OwnedSemaphorePermit, Semaphore},
    time::Instant,
};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tower::ServiceExt;

use crate::{
    config::Settings,
    delivery::log::{self, DeliveryLog},
    server::app::App,
    tls::{HandshakeError, Tls},
};

/// The largest request head (request line and headers) read, and the
/// largest HTTP/2 header list: Kakao's are under 2 KiB. hyper's defaults
/// (about 400 KiB for HTTP/1, 16 MiB for HTTP/2) would let 1,000 connections
/// hold hundreds of MiB.
pub const MAX_HEAD_BYTES: usize = 8 * 1024;
/// Headers a request may carry.
pub const MAX_HEADERS: usize = 64;
/// HTTP/2 streams a connection may open at once.
pub const MAX_STREAMS: u32 = 64;

#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub header_read_timeout: Duration,
    pub keep_alive_timeout: Duration,
    pub max_connections: usize,
    pub max_requests_in_flight: usize,
}

impl ConnectionLimits {
    pub fn from_settings(settings: &Settings) -> Self {
        Self {
            header_read_timeout: settings.header_read_timeout_ms,
            keep_alive_timeout: settings.keep_alive_timeout_ms,
            max_connections: settings.max_connections,
            max_requests_in_flight: settings.max_requests_in_flight,
        }
    }
}

/// Serves `app` on `listener` until `shutdown`, each connection a task on
/// `connections`; once `shutdown` fires no connection is accepted, and open
/// ones finish their request and close. With `tls`, each connection's TLS
/// handshake comes first, bounded by `HEADER_READ_TIMEOUT_MS` like a
/// request's headers.
pub async fn serve(
    listener: TcpListener,
    app: impl App,
    limits: ConnectionLimits,
    shutdown: CancellationToken,
    connections: TaskTracker,
    deliveries: Arc<DeliveryLog>,
    tls: Option<Tls>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let in_flight = Arc::new(RequestSlots {
        slots: Arc::new(Semaphore::new(limits.max_requests_in_flight)),
        deliveries,
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // No timer for HTTP/1: hyper would otherwise default its header timer to 30 s.
    builder
        .http1()
        .header_read_timeout(None)
        .max_buf_size(MAX_HEAD_BYTES)
        .max_headers(MAX_HEADERS);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(MAX_STREAMS)
        .max_header_list_size(MAX_HEAD_BYTES as u32)
        .initial_stream_window_size(64 * 1024)
        .initial_connection_window_size(256 * 1024)
        .max_send_buf_size(64 * 1024)
        .max_pending_accept_reset_streams(Some(32))
        .max_local_error_reset_streams(Some(256));
    let builder = Arc::new(builder);
    loop {
        // A slot first: past the cap, clients wait in the kernel's queue.
        let permit = tokio::select! {
            permit = Arc::clone(&slots).acquire_owned() => permit.expect("the semaphore is never closed"),
            () = shutdown.cancelled() => return,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors, or a connection reset before accept.
                    tracing::warn!(error = %err, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => return,
        };
        let connection = Connection {
            in_flight: Arc::clone(&in_flight),
            builder: Arc::clone(&builder),
            limits,
            shutdown: shutdown.clone(),
            over_tls: tls.is_some(),
        };
        let app = app.clone();
        match &tls {
            None => connections.spawn(async move {
                let (stream, peer) = stream;
                let _ = stream.set_nodelay(true);
                connection.serve(stream, peer, app, permit).await
            }),
            Some(tls) => {
                let tls = tls.clone();
                connections.spawn(async move {
                    let (stream, peer) = stream;
                    let _ = stream.set_nodelay(true);
                    let _open = OpenConnection::count();
                    let handshake =
                        tokio::time::timeout(limits.header_read_timeout, tls.accept(stream));
                    let stream = tokio::select! {
                        done = handshake => match done {
                            Ok(Ok(stream)) => stream,
                            Ok(Err(HandshakeError::Challenge)) => return cut("acme_challenge"),
                            Ok(Err(HandshakeError::Io(_))) => return cut("tls_handshake"),
                            Err(_) => return cut("tls_handshake_timeout"),
                        },
                        () = connection.shutdown.cancelled() => return,
                    };
                    drop(_open);
                    connection.serve(stream, peer, app, permit).await
                })
            }
        };
    }
}

/// What every connection of a listener shares.
struct Connection {
    in_flight: Arc<RequestSlots>,
    builder: Arc<auto::Builder<TokioExecutor>>,
    limits: ConnectionLimits,
    shutdown: CancellationToken,
    /// Each request is marked [`crate::http::OverTls`].
    over_tls: bool,
}

impl Connection {
    async fn serve<S>(self, stream: S, peer: SocketAddr, app: impl App, slot: OwnedSemaphorePermit)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        serve_connection(
            (stream, peer, self.over_tls),
            self.in_flight,
            app,
            self.builder,
            self.limits,
            self.shutdown,
            slot,
        )
        .await
    }
}

async fn serve_connection<S>(
    (stream, peer, over_tls): (S, SocketAddr, bool),
    in_flight: Arc<RequestSlots>,
    app: impl App,
    builder: Arc<auto::Builder<TokioExecutor>>,
    limits: ConnectionLimits,
    shutdown: CancellationToken,
    _slot: OwnedSemaphorePermit,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let _open = OpenConnection::count();
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched {
        stream,
        activity: Arc::clone(&activity),
    });
    let service = hyper::service::service_fn({
        let activity = Arc::clone(&activity);
        move |request: Request<Incoming>| {
            let in_progress = activity.request_started();
            let app = app.clone();
            // Past the cap on requests in flight (every connection of this
            // listener), 503 at once rather than one more request's memory.
            let slot = Arc::clone(&in_flight.slots).try_acquire_owned();
            let in_flight = Arc::clone(&in_flight);
            async move {
                let Ok(_slot) = slot else {
                    drop(in_progress);
                    metrics::counter!("kakao_http_overloaded_total").increment(1);
                    let response = overloaded();
                    // Refused before the edge: a delivery from Kakao is
                    // still counted, a failure like any other 503.
                    if let Some(kakao) = log::family(request.uri().path()) {
                        log::record(
                            &in_flight.deliveries,
                            kakao,
                            Duration::ZERO,
                            &response,
                            None,
                        );
                    }
                    return Ok::<_, Infallible>(response);
                };
                let mut request = request.map(axum::body::Body::new);
                // Who is calling, for the limits kept per client address.
                request.extensions_mut().insert(ConnectInfo(peer));
                if over_tls {
                    request.extensions_mut().insert(crate::http::OverTls);
                }
                let response = app.oneshot(request).await;
                drop(in_progress);
                Ok::<_, Infallible>(response.unwrap_or_else(|never| match never {}))
            }
        }
    });
    let connection = builder.serve_connection_with_upgrades(io, service);
    tokio::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => return,
        reason = watchdog(&activity, limits) => return cut(reason),
        () = shutdown.cancelled() => {}
    }
    // Shutting down: the request in progress finishes, then the connection closes.
    connection.as_mut().graceful_shutdown();
    tokio::select! {
        _ = connection => {}
        reason = watchdog(&activity, limits) => cut(reason),
    }
}

/// A listener's requests being answered (`MAX_REQUESTS_IN_FLIGHT`), and the
/// log a Kakao delivery refused for it is counted in.
struct RequestSlots {
    slots: Arc<Semaphore>,
    deliveries: Arc<DeliveryLog>,
}

/// The answer past `MAX_REQUESTS_IN_FLIGHT`: Kakao retries a 503.
fn overloaded() -> axum::response::Response {
    let mut response = crate::http::json_response(
        r#"{"error":"overloaded","message":"too many requests in flight; retry later"}"#,
    );
    *response.status_mut() = axum::http::StatusCode::SERVICE_UNAVAILABLE;
    response
        .extensions_mut()
        .insert(crate::http::error::Refusal(
            "too many requests in flight (MAX_REQUESTS_IN_FLIGHT)".to_owned(),
        ));
    response
}

/// Dropping the connection closes its socket.
fn cut(reason: &'static str) {
    metrics::counter!("kakao_http_connections_cut_total", "reason" => reason).increment(1);
    tracing::debug!(reason, "connection cut");
}

/// Counts the connection in `kakao_http_connections_open` while it lives.
struct OpenConnection;

impl OpenConnection {
    fn count() -> Self {
        metrics::gauge!("kakao_http_connections_open").increment(1.0);
        Self
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        metrics::gauge!("kakao_http_connections_open").decrement(1.0);
    }
}

/// Ends when the connection has overrun a limit, naming which.
async fn watchdog(activity: &Activity, limits: ConnectionLimits) -> &'static str {
    loop {
        match activity.deadline(limits) {
            // A request is running; REQUEST_TIMEOUT_MS bounds it. Look again later.
            None => tokio::time::sleep(limits.header_read_timeout).await,
            Some((at, reason)) => {
                if Instant::now() >= at {
                    return reason;
                }
                tokio::time::sleep_until(at).await;
            }
        }
    }
}

const NO_BYTE: u64 = u64::MAX;

/// What a connection is doing, as its reads and requests report it.
struct Activity {
    opened: Instant,
    in_flight: AtomicU32,
    served: AtomicBool,
    /// Since `opened`, in ms: when the last request finished.
    idle_since: AtomicU64,
    /// Since `opened`, in ms: the first byte read while no request ran.
    first_byte: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self {
            opened: Instant::now(),
            in_flight: AtomicU32::new(0),
            served: AtomicBool::new(false),
            idle_since: AtomicU64::new(0),
            first_byte: AtomicU64::new(NO_BYTE),
        }
    }

    fn now_ms(&self) -> u64 {
        self.opened.elapsed().as_millis() as u64
    }

    fn read_some(&self) {
        if self.in_flight.load(Ordering::Relaxed) == 0
            && self.first_byte.load(Ordering::Relaxed) == NO_BYTE
        {
            self.first_byte.store(self.now_ms(), Ordering::Relaxed);
        }
    }

    fn request_started(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.served.store(true, Ordering::Relaxed);
        InFlight(Arc::clone(self))
    }

    /// When the connection must have sent its next headers, and which limit
    /// that is; `None` while a request runs.
    fn deadline(&self, limits: ConnectionLimits) -> Option<(Instant, &'static str)> {
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return None;
        }
        let at = |ms: u64, limit: Duration| self.opened + Duration::from_millis(ms) + limit;
        let first_byte = self.first_byte.load(Ordering::Relaxed);
        Some(if !self.served.load(Ordering::Relaxed) {
            // The first request's headers are due from the moment of connecting.
            (at(0, limits.header_read_timeout), "header_timeout")
        } else if first_byte != NO_BYTE {
            (at(first_byte, limits.header_read_timeout), "header_timeout")
        } else {
            let idle_since = self.idle_since.load(Ordering::Relaxed);
            (at(idle_since, limits.keep_alive_timeout), "idle")
        })
    }
}

/// A running request; dropped when its response is ready (or it is cancelled).
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let activity = &self.0;
        if activity.in_flight.fetch_sub(1, Ordering::Relaxed) == 1 {
            activity.first_byte.store(NO_BYTE, Ordering::Relaxed);
            activity
                .idle_since
                .store(activity.now_ms(), Ordering::Relaxed);
        }
    }
}

/// The socket (or its TLS session), reporting each read to the
/// connection's [`Activity`].
struct Watched<S> {
    stream: S,
    activity: Arc<Activity>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.read_some();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

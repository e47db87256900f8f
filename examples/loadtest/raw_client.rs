//! A bare HTTP/1.1 keep-alive client for the load generator.
//!
//! reqwest builds a URL, a header map and a pool lookup per request; at
//! 100k req/s on one core that bookkeeping, not the server, would be what is
//! measured. Here each request is bytes encoded before the clock starts,
//! written as is; the answer is read up to its `Content-Length`. Over TLS
//! too (`--tls`, tls.rs), through tokio-rustls.

use std::io;

use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    net::TcpStream,
};
use tokio_rustls::{TlsConnector, rustls::pki_types::ServerName};

/// A plain or a TLS stream.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Encodes one request; `body` with its content type for a POST.
pub fn encode(
    method: &str,
    path: &str,
    host: &str,
    authorization: &str,
    body: Option<(&str, &[u8])>,
) -> Vec<u8> {
    let mut request =
        format!("{method} {path} HTTP/1.1\r\nhost: {host}\r\nauthorization: {authorization}\r\n");
    if let Some((content_type, body)) = body {
        request.push_str(&format!(
            "content-type: {content_type}\r\ncontent-length: {}\r\n",
            body.len()
        ));
    }
    request.push_str("\r\n");
    let mut bytes = request.into_bytes();
    if let Some((_, body)) = body {
        bytes.extend_from_slice(body);
    }
    bytes
}

pub struct Connection {
    stream: Box<dyn Io>,
    received: Vec<u8>,
}

impl Connection {
    /// Connects to `addr`, with a TLS handshake for `localhost` when `tls`
    /// is given.
    pub async fn open(addr: &str, tls: Option<&TlsConnector>) -> io::Result<Self> {
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        let stream: Box<dyn Io> = match tls {
            Some(connector) => {
                let name = ServerName::try_from("localhost").expect("a valid name");
                Box::new(connector.connect(name, tcp).await?)
            }
            None => Box::new(tcp),
        };
        Ok(Self {
            stream,
            received: Vec::with_capacity(16 * 1024),
        })
    }

    /// Sends one encoded request and returns the answer's status code.
    pub async fn send(&mut self, request: &[u8]) -> io::Result<u16> {
        self.stream.write_all(request).await?;
        loop {
            if let Some((status, length)) = parse_head(&self.received)? {
                while self.received.len() < length {
                    self.read_more().await?;
                }
                self.received.drain(..length);
                return Ok(status);
            }
            self.read_more().await?;
        }
    }

    async fn read_more(&mut self) -> io::Result<()> {
        if self.stream.read_buf(&mut self.received).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok(())
    }
}

/// The status and the whole response's length (head and body), once the
/// head has arrived.
fn parse_head(received: &[u8]) -> io::Result<Option<(u16, usize)>> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let head = match response.parse(received) {
        Ok(httparse::Status::Complete(head)) => head,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(err) => return Err(io::Error::new(io::ErrorKind::InvalidData, err)),
    };
    let status = response.code.unwrap_or(0);
    // 204 and 304 have no body, and so no Content-Length (RFC 9110 §8.6).
    if matches!(status, 204 | 304) {
        return Ok(Some((status, head)));
    }
    let body = response
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .and_then(|h| {
            std::str::from_utf8(h.value)
                .ok()?
                .trim()
                .parse::<usize>()
                .ok()
        })
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no content-length"))?;
    Ok(Some((status, head + body)))
}

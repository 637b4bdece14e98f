//! A minimal HTTP/1.1 client on hyper's connection API: one keep-alive connection to the
//! address the connect stage found (reopened if the daemon closes it), the `Host` header
//! from the URL, and `Authorization: Bearer $AI_PROXY_KEY` when a key is set (for the
//! Messages API `x-api-key` and `anthropic-version`, as Anthropic clients send them). Bodies
//! are read with a size cap; streaming bodies are handed out frame by frame.

use std::net::SocketAddr;

use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::api::{ANTHROPIC_VERSION, Api};

/// How an exchange failed below the HTTP status level.
#[derive(Debug, PartialEq, Eq)]
pub enum HttpError {
    /// The peer closed or reset the connection before a full answer.
    Closed(String),
    /// The answer is not HTTP/1.1.
    NotHttp(String),
    /// The body is larger than the cap.
    TooLarge(usize),
    /// Anything else (reconnect failed, request could not be built…).
    Other(String),
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpError::Closed(d) => write!(f, "connection closed without an answer ({d})"),
            HttpError::NotHttp(d) => write!(f, "the answer is not HTTP ({d})"),
            HttpError::TooLarge(n) => write!(f, "the answer is larger than {n} bytes"),
            HttpError::Other(d) => write!(f, "{d}"),
        }
    }
}

/// Maps a hyper error onto what the diagnosis needs.
fn classify(error: hyper::Error) -> HttpError {
    let text = error.to_string();
    let source = std::error::Error::source(&error)
        .map(|s| format!(": {s}"))
        .unwrap_or_default();
    if error.is_parse() || error.is_parse_status() {
        HttpError::NotHttp(format!("{text}{source}"))
    } else {
        // Incomplete messages, closed channels, resets and broken pipes alike: the peer
        // went away before answering.
        HttpError::Closed(format!("{text}{source}"))
    }
}

/// One HTTP/1.1 connection to the proxy.
pub struct Client {
    addr: SocketAddr,
    authority: String,
    key: Option<String>,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Client {
    /// Wraps the connect stage's stream; `authority` is the URL's `host:port`.
    pub async fn new(
        stream: TcpStream,
        addr: SocketAddr,
        authority: String,
        key: Option<String>,
    ) -> Result<Client, HttpError> {
        let mut client = Client {
            addr,
            authority,
            key,
            sender: None,
        };
        client.sender = Some(handshake(stream).await?);
        Ok(client)
    }

    /// Sends one request; the body is JSON when given.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        json: Option<Bytes>,
    ) -> Result<Response<Incoming>, HttpError> {
        self.send_for(Api::Chat, method, path, json).await
    }

    /// Sends one request with the headers `api`'s clients send.
    pub async fn send_for(
        &mut self,
        api: Api,
        method: Method,
        path: &str,
        json: Option<Bytes>,
    ) -> Result<Response<Incoming>, HttpError> {
        let reusable = match self.sender.take() {
            Some(mut s) => s.ready().await.is_ok().then_some(s),
            None => None,
        };
        let mut sender = match reusable {
            Some(s) => s,
            None => {
                let stream = TcpStream::connect(self.addr)
                    .await
                    .map_err(|e| HttpError::Closed(format!("reconnect failed: {e}")))?;
                handshake(stream).await?
            }
        };
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, &self.authority)
            .header(
                hyper::header::USER_AGENT,
                concat!("ai-proxy-check/", env!("CARGO_PKG_VERSION")),
            )
            .header(hyper::header::ACCEPT, "application/json, text/event-stream");
        if api.anthropic() {
            builder = builder.header("anthropic-version", ANTHROPIC_VERSION);
            if let Some(key) = &self.key {
                builder = builder.header("x-api-key", key);
            }
        } else if let Some(key) = &self.key {
            builder = builder.header(hyper::header::AUTHORIZATION, format!("Bearer {key}"));
        }
        let body = match json {
            Some(bytes) => {
                builder = builder.header(hyper::header::CONTENT_TYPE, "application/json");
                Full::new(bytes)
            }
            None => Full::new(Bytes::new()),
        };
        let request = builder
            .body(body)
            .map_err(|e| HttpError::Other(format!("cannot build the request: {e}")))?;
        let response = sender.send_request(request).await.map_err(classify)?;
        self.sender = Some(sender);
        Ok(response)
    }
}

async fn handshake(stream: TcpStream) -> Result<SendRequest<Full<Bytes>>, HttpError> {
    let (sender, connection) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(classify)?;
    tokio::spawn(async move {
        // Its error surfaces on the next request; nothing to report here.
        let _ = connection.await;
    });
    Ok(sender)
}

/// Reads a whole body, refusing more than `limit` bytes.
pub async fn read_body(mut body: Incoming, limit: usize) -> Result<Bytes, HttpError> {
    let mut buffer = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(classify)?;
        if let Ok(data) = frame.into_data() {
            if buffer.len() + data.len() > limit {
                return Err(HttpError::TooLarge(limit));
            }
            buffer.extend_from_slice(&data);
        }
    }
    Ok(buffer.freeze())
}

/// The next data chunk of a streaming body; `None` at its end.
pub async fn next_chunk(body: &mut Incoming) -> Option<Result<Bytes, HttpError>> {
    loop {
        match body.frame().await? {
            Ok(frame) => {
                if let Ok(data) = frame.into_data() {
                    return Some(Ok(data));
                }
            }
            Err(e) => return Some(Err(classify(e))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Sends one POST for `api` with `key` to a one-shot server; the request as it saw it
    /// (lower-cased).
    async fn seen_request(api: Api, key: Option<&str>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut seen = Vec::new();
            let mut buffer = [0u8; 4096];
            // Until the head and the two-byte body are in.
            while !(seen.windows(4).any(|w| w == b"\r\n\r\n") && seen.ends_with(b"{}")) {
                let n = socket.read(&mut buffer).await.unwrap();
                if n == 0 {
                    break;
                }
                seen.extend_from_slice(&buffer[..n]);
            }
            socket
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                .await
                .unwrap();
            String::from_utf8_lossy(&seen).to_ascii_lowercase()
        });
        let stream = TcpStream::connect(addr).await.unwrap();
        let key = key.map(str::to_string);
        let mut client = Client::new(stream, addr, "proxy.lan:3456".into(), key)
            .await
            .unwrap();
        let body = Some(Bytes::from_static(b"{}"));
        let path = format!("/v1/{}", api.endpoint());
        let response = client
            .send_for(api, Method::POST, &path, body)
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        server.await.unwrap()
    }

    /// The daemon refuses a POST without `Content-Type: application/json` (415) and any
    /// request with an `Origin` (403); this is what the client sends.
    #[tokio::test]
    async fn posts_say_their_body_is_json() {
        let request = seen_request(Api::Chat, None).await;
        assert!(
            request.starts_with("post /v1/chat/completions http/1.1\r\n"),
            "{request}"
        );
        assert!(
            request.contains("\r\ncontent-type: application/json\r\n"),
            "{request}"
        );
        assert!(
            request.contains("\r\nhost: proxy.lan:3456\r\n"),
            "{request}"
        );
        assert!(!request.contains("\r\norigin:"), "{request}");
        assert!(!request.contains("\r\nauthorization:"), "{request}");
    }

    /// The key goes as a bearer token, or for the Messages API as `x-api-key` beside
    /// `anthropic-version`, as Anthropic clients send it.
    #[tokio::test]
    async fn the_key_travels_as_each_api_expects() {
        let request = seen_request(Api::Responses, Some("k1")).await;
        assert!(request.starts_with("post /v1/responses "), "{request}");
        assert!(
            request.contains("\r\nauthorization: bearer k1\r\n"),
            "{request}"
        );
        assert!(!request.contains("x-api-key"), "{request}");
        let request = seen_request(Api::Messages, Some("k1")).await;
        assert!(request.starts_with("post /v1/messages "), "{request}");
        assert!(request.contains("\r\nx-api-key: k1\r\n"), "{request}");
        assert!(
            request.contains("\r\nanthropic-version: 2023-06-01\r\n"),
            "{request}"
        );
        assert!(!request.contains("authorization:"), "{request}");
    }
}

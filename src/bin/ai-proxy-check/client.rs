//! A minimal HTTP/1.1 client on hyper's connection API: one keep-alive connection to the
//! address the connect stage found (reopened if the daemon closes it), the `Host` header
//! from the URL, and `Authorization: Bearer $AI_PROXY_KEY` when a key is set. Bodies are read
//! with a size cap; streaming bodies are handed out frame by frame.

use std::net::SocketAddr;

use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

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
        if let Some(key) = &self.key {
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

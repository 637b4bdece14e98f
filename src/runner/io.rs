//! Reading the CLI's pipes: bounded lines from stdout, the tail of stderr.

use tokio::io::{AsyncBufReadExt, AsyncReadExt};

/// How much of the CLI's stderr is kept for error messages.
const STDERR_TAIL_BYTES: usize = 8 * 1024;
/// Longest stdout line accepted from the CLI (a full assistant message is one line).
const MAX_LINE_BYTES: usize = 64 * 1024 * 1024;

/// Reads one line (up to [`MAX_LINE_BYTES`]) into `buf`; returns the bytes read.
pub async fn read_line<R: tokio::io::AsyncBufRead + Unpin>(
    reader: &mut R,
    buf: &mut Vec<u8>,
) -> std::io::Result<usize> {
    let mut total = 0;
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(total);
        }
        let (used, done) = match available.iter().position(|b| *b == b'\n') {
            Some(i) => (i + 1, true),
            None => (available.len(), false),
        };
        if buf.len() + used <= MAX_LINE_BYTES {
            buf.extend_from_slice(&available[..used]);
        }
        reader.consume(used);
        total += used;
        if done {
            return Ok(total);
        }
    }
}

/// Reads a stream to its end, keeping the last [`STDERR_TAIL_BYTES`].
pub async fn read_tail(mut stderr: tokio::process::ChildStderr) -> String {
    let mut tail: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stderr.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                tail.extend_from_slice(&chunk[..n]);
                if tail.len() > STDERR_TAIL_BYTES {
                    let cut = tail.len() - STDERR_TAIL_BYTES;
                    tail.drain(..cut);
                }
            }
        }
    }
    String::from_utf8_lossy(&tail).into_owned()
}

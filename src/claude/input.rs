//! The writer that owns a CLI process's stdin: the prompt, the next turns' messages and the
//! answers to the CLI's control requests all go through one task, in the order they were
//! given, so the reader of the CLI's stdout never blocks on a write (a prompt can be
//! megabytes of images while the CLI is already asking for its tools).
//!
//! Closing the input (dropping or [`CliInput::close`]) ends stdin once everything queued is
//! written: the CLI answers what it has and exits.

use tokio::io::AsyncWriteExt;
use tokio::process::ChildStdin;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// A process's stdin, written by a task of its own.
#[derive(Debug)]
pub struct CliInput {
    /// `None` once closed.
    queue: Option<mpsc::UnboundedSender<Vec<u8>>>,
    /// Ends when stdin is closed; `false` if a write failed (the process stopped reading).
    writer: JoinHandle<bool>,
}

impl CliInput {
    /// Takes over `stdin`.
    pub fn spawn(mut stdin: ChildStdin) -> CliInput {
        let (queue, mut lines) = mpsc::unbounded_channel::<Vec<u8>>();
        let writer = tokio::spawn(async move {
            while let Some(bytes) = lines.recv().await {
                if stdin.write_all(&bytes).await.is_err() || stdin.flush().await.is_err() {
                    return false;
                }
            }
            let _ = stdin.shutdown().await;
            true
        });
        CliInput {
            queue: Some(queue),
            writer,
        }
    }

    /// Queues `bytes`; `false` when the writer already stopped (the process is gone).
    pub fn send(&self, bytes: Vec<u8>) -> bool {
        if bytes.is_empty() {
            return true;
        }
        self.queue.as_ref().is_some_and(|q| q.send(bytes).is_ok())
    }

    /// Closes stdin once everything queued is written (the CLI then finishes and exits).
    pub fn finish(&mut self) {
        self.queue = None;
    }

    /// Whether the writer stopped (a write failed: the process no longer reads).
    pub fn is_broken(&self) -> bool {
        self.writer.is_finished()
    }

    /// Closes stdin and waits until everything queued is written.
    pub async fn close(mut self) {
        self.finish();
        let _ = (&mut self.writer).await;
    }
}

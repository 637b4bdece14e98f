//! The `--no-browser` login: print the authorize URL, let the user open it on any machine,
//! and read the `code#state` the callback page shows from standard input.
//!
//! Standard input is read on a plain thread (a blocked read must not keep the async
//! runtime from shutting down when the deadline passes).

use std::io::{BufRead, Read, Write};

use reqwest::Url;
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::login::LoginError;
use crate::login::pkce::{Returned, parse_pasted};

/// Longest line read from standard input.
const MAX_LINE_BYTES: u64 = 16 * 1024;

/// Prints the instructions and the URL to `out`, then waits for one pasted line.
pub async fn obtain_code(
    authorize_url: &Url,
    out: &mut dyn Write,
    deadline: Instant,
    timeout_secs: u64,
) -> Result<Returned, LoginError> {
    let _ = writeln!(
        out,
        "Open this URL in a browser (on any machine), log in to Claude and authorize:\n\n{authorize_url}\n\n\
         The page then shows a code. Paste it here (it looks like `code#state`) and press Enter:"
    );
    let _ = out.flush();
    let (tx, rx) = oneshot::channel::<std::io::Result<(usize, String)>>();
    std::thread::spawn(move || {
        let mut line = String::new();
        let stdin = std::io::stdin();
        let read = stdin.lock().take(MAX_LINE_BYTES).read_line(&mut line);
        let _ = tx.send(read.map(|n| (n, line)));
    });
    match tokio::time::timeout_at(deadline, rx).await {
        Err(_) => Err(LoginError::TimedOut { secs: timeout_secs }),
        Ok(Err(_)) | Ok(Ok(Ok((0, _)))) => Err(LoginError::NoInput),
        Ok(Ok(Err(e))) => Err(LoginError::Io {
            what: "cannot read standard input".to_string(),
            reason: e.to_string(),
        }),
        Ok(Ok(Ok((_, line)))) => parse_pasted(&line),
    }
}

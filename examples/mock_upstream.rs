//! The tests' mock Messages API as a standalone server, for measuring the real CLI by hand:
//! `cargo run --example mock_upstream -- <log-file>` prints `http://127.0.0.1:PORT` (for
//! `ANTHROPIC_BASE_URL`) and appends every request it sees to `<log-file>`, one JSON line
//! each (method, path, body), until it is killed.

#[path = "../tests/support/mock_anthropic.rs"]
mod mock_anthropic;

use std::io::Write;
use std::time::Duration;

#[tokio::main]
async fn main() {
    let log = std::env::args().nth(1);
    let mock = mock_anthropic::MockAnthropic::start().await;
    println!("{}", mock.base_url());
    let mut seen = 0;
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let requests = mock.requests();
        let file = log.as_ref().and_then(|path| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .ok()
        });
        if let Some(mut file) = file {
            for request in &requests[seen..] {
                let line = serde_json::json!({"method": request.method, "path": request.path,
                    "body": request.body});
                let _ = writeln!(file, "{line}");
            }
        }
        seen = requests.len();
    }
}

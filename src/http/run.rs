//! What every generation endpoint does before it answers: check the body is JSON, read it
//! within the limits, parse it (each API its own way) into the one request shape the runner
//! plans from, check images, resolve the model, predict overage, and start the CLI run.
//! Parsing and planning a large body run off the runtime's worker threads ([`Heavy`]).

use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{Request, Response};
use tokio::sync::mpsc;

use super::body::{self, BodyLimits};
use super::overage;
use super::request_log::RequestLog;
use super::respond::{self, Dialect};
use super::shown::{Known, shown};
use super::{AppState, Body, Generation};
use crate::conversation::{ApiError, ChatRequest};
use crate::translate::outcome::Output;
use crate::translate::plan;

/// A run that started.
pub struct Started {
    /// The request as parsed (for the response's model name, stream flag, …).
    pub chat: ChatRequest,
    /// The run's outputs.
    pub rx: mpsc::Receiver<Output>,
    /// Predicted to be billed as extra usage.
    pub overage_predicted: bool,
}

/// Reads, parses with `parse` and starts one CLI run; fills `log` as it learns.
pub async fn start<P>(
    state: &AppState,
    current: &Generation,
    request: Request<Incoming>,
    log: &mut RequestLog,
    parse: P,
) -> Result<Started, ApiError>
where
    P: FnOnce(&[u8]) -> Result<ChatRequest, ApiError>,
{
    body::require_json(request.headers())?;
    let limits = BodyLimits {
        max_bytes: current.settings.max_body_bytes,
        timeout: current.settings.body_read_timeout(),
    };
    let (bytes, reservation) = body::read(request, limits, &state.body_budget).await?;
    log.bytes_in = bytes.len();
    let heavy = Heavy::take(bytes.len()).await;
    let max_image_bytes = current.settings.max_image_bytes;
    let chat = heavy.run(|| {
        let chat = parse(&bytes)?;
        check_image_sizes(&chat, max_image_bytes)?;
        Ok::<_, ApiError>(chat)
    })?;
    drop(reservation);
    drop(bytes);
    log.stream = chat.stream;
    let model_arg = current.catalog.resolve(&chat.model);
    let known = match model_arg {
        Some(_) if current.catalog.is_listed(&chat.model) => Known::Listed,
        Some(_) => Known::Served,
        None => Known::Unknown,
    };
    log.model(&chat.model, known);
    let model_arg = model_arg.ok_or_else(|| ApiError::model_not_found(&shown(&chat.model)))?;
    let overage_predicted = overage::check(current)?;
    let run_plan = heavy.run(|| plan::plan_request(&chat, model_arg))?;
    drop(heavy);
    let rx = current.backend.start(run_plan, chat.stream)?;
    if overage_predicted {
        log.overage();
    }
    Ok(Started {
        chat,
        rx,
        overage_predicted,
    })
}

/// Bodies from this size on are parsed and planned off the runtime's worker threads.
const HEAVY_BODY_BYTES: usize = 128 * 1024;

/// Where a request's CPU-bound work (parsing its body, planning its run: linear in the
/// body, but up to tens of milliseconds for a large one) runs so that it cannot stall
/// other connections: a small body's on the worker thread as usual; a large body's on a
/// thread of its own (`block_in_place`: the worker's other tasks move on), under one of a
/// few permits, so that many large bodies at once are parsed a few at a time (this also
/// bounds the memory their parses hold together).
enum Heavy {
    Inline,
    /// Held until the work is done.
    OwnThread {
        _permit: tokio::sync::SemaphorePermit<'static>,
    },
}

impl Heavy {
    /// How the work for a body of `len` bytes runs; a large one waits for a permit.
    async fn take(len: usize) -> Heavy {
        let multi_thread = tokio::runtime::Handle::try_current().is_ok_and(|handle| {
            handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread
        });
        if len < HEAVY_BODY_BYTES || !multi_thread {
            return Heavy::Inline;
        }
        match heavy_permits().acquire().await {
            Ok(permit) => Heavy::OwnThread { _permit: permit },
            // The semaphore is never closed.
            Err(_) => Heavy::Inline,
        }
    }

    fn run<T>(&self, work: impl FnOnce() -> T) -> T {
        match self {
            Heavy::Inline => work(),
            Heavy::OwnThread { .. } => tokio::task::block_in_place(work),
        }
    }
}

/// The permits for heavy work: one per core (at least two).
fn heavy_permits() -> &'static tokio::sync::Semaphore {
    static PERMITS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    PERMITS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        tokio::sync::Semaphore::new(cores.max(2))
    })
}

/// The response of a generation request: the error in the API's shape (logged as refused
/// before a run), the request id in `x-request-id` (and `request-id`, as Anthropic names
/// it), overage marked and the parameters without effect named in `x-ignored-params`.
pub fn reply(
    result: Result<Response<Body>, ApiError>,
    log: &mut RequestLog,
    id: &str,
    dialect: Dialect,
) -> Response<Body> {
    let mut response = match result {
        Ok(response) => response,
        Err(error) => {
            log.rejected(&error);
            respond::error_in(dialect, &error)
        }
    };
    if let Ok(value) = HeaderValue::from_str(id) {
        if dialect == Dialect::Anthropic {
            response.headers_mut().insert("request-id", value.clone());
        }
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

/// Marks an answer that started: predicted overage, and the parameters that had no effect
/// (so a client can tell, e.g. `temperature`).
pub fn decorate(
    response: Result<Response<Body>, ApiError>,
    overage_predicted: bool,
    ignored: &[String],
) -> Result<Response<Body>, ApiError> {
    let ignored = ignored.join(", ");
    response.map(|mut response| {
        if overage_predicted {
            respond::mark_overage(&mut response);
        }
        if !ignored.is_empty()
            && let Ok(value) = HeaderValue::from_str(&ignored)
        {
            response.headers_mut().insert("x-ignored-params", value);
        }
        response
    })
}

/// Refuses images over `max_image_bytes` (decoded size), naming the message.
fn check_image_sizes(chat: &ChatRequest, max: usize) -> Result<(), ApiError> {
    for (i, message) in chat.messages.iter().enumerate() {
        if let Some(image) = message
            .attachments
            .iter()
            .find(|img| img.image_bytes() > max)
        {
            return Err(ApiError::invalid(
                format!("messages[{i}].content"),
                format!(
                    "An image is {} bytes; at most {max} are accepted (`max_image_bytes`). \
                     Send a smaller image.",
                    image.image_bytes()
                ),
            ));
        }
    }
    Ok(())
}

/// Seconds since the Unix epoch (the `created` fields).
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

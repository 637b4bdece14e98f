//! The concurrency limit on CLI processes and the bounded FIFO queue in front of it.
//!
//! A request takes a [`QueueTicket`] first (refused with 429 when the queue is full), then
//! waits for a permit in FIFO order (tokio's semaphore is fair). A waiter whose client goes
//! away is dropped from the queue with its future. The permit lives as long as the CLI
//! process it allows.
//!
//! There is one limiter for the daemon's lifetime: a reload [`Limiter::resize`]s it. Growing
//! adds permits at once; shrinking below the number in use retires permits as their runs
//! end, so the new limit holds from then on and is never exceeded by old and new runs
//! together.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::conversation::{ApiError, ErrorKind};

/// Retry-After for a full queue.
const QUEUE_RETRY_SECS: u64 = 5;

#[derive(Debug)]
pub struct Limiter {
    permits: Arc<Semaphore>,
    max_concurrent: AtomicUsize,
    queue_limit: AtomicUsize,
    queued: Arc<AtomicUsize>,
    running: Arc<AtomicUsize>,
    /// Permits to retire when they come back: the limit was lowered below the number in use.
    debt: Arc<Mutex<usize>>,
}

/// A place in the queue; released on drop.
#[derive(Debug)]
pub struct QueueTicket {
    queued: Arc<AtomicUsize>,
}

impl Drop for QueueTicket {
    fn drop(&mut self) {
        self.queued.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The right to run one CLI process; released on drop.
#[derive(Debug)]
pub struct RunPermit {
    permit: Option<OwnedSemaphorePermit>,
    running: Arc<AtomicUsize>,
    debt: Arc<Mutex<usize>>,
}

impl Drop for RunPermit {
    fn drop(&mut self) {
        self.running.fetch_sub(1, Ordering::SeqCst);
        let mut debt = match self.debt.lock() {
            Ok(debt) => debt,
            Err(poisoned) => poisoned.into_inner(),
        };
        if *debt > 0
            && let Some(permit) = self.permit.take()
        {
            *debt -= 1;
            permit.forget();
        }
    }
}

impl Limiter {
    pub fn new(max_concurrent: usize, queue_limit: usize) -> Limiter {
        Limiter {
            permits: Arc::new(Semaphore::new(max_concurrent)),
            max_concurrent: AtomicUsize::new(max_concurrent),
            queue_limit: AtomicUsize::new(queue_limit),
            queued: Arc::new(AtomicUsize::new(0)),
            running: Arc::new(AtomicUsize::new(0)),
            debt: Arc::new(Mutex::new(0)),
        }
    }

    /// Applies new limits (reload). Runs in progress keep their permits; when the limit
    /// shrinks below them, their permits are retired as they end.
    pub fn resize(&self, max_concurrent: usize, queue_limit: usize) {
        self.queue_limit.store(queue_limit, Ordering::SeqCst);
        let mut debt = match self.debt.lock() {
            Ok(debt) => debt,
            Err(poisoned) => poisoned.into_inner(),
        };
        let old = self.max_concurrent.swap(max_concurrent, Ordering::SeqCst);
        if max_concurrent > old {
            let grow = max_concurrent - old;
            let repaid = grow.min(*debt);
            *debt -= repaid;
            self.permits.add_permits(grow - repaid);
        } else if max_concurrent < old {
            let shrink = old - max_concurrent;
            let forgotten = self.permits.forget_permits(shrink);
            *debt += shrink - forgotten;
        }
    }

    fn permit(&self, permit: OwnedSemaphorePermit) -> RunPermit {
        self.running.fetch_add(1, Ordering::SeqCst);
        RunPermit {
            permit: Some(permit),
            running: self.running.clone(),
            debt: self.debt.clone(),
        }
    }

    /// Requests waiting for a slot.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::SeqCst)
    }

    /// CLI processes running (or about to).
    pub fn running(&self) -> usize {
        self.running.load(Ordering::SeqCst)
    }

    pub fn max_concurrent(&self) -> usize {
        self.max_concurrent.load(Ordering::SeqCst)
    }

    /// Free slots right now.
    pub fn available(&self) -> usize {
        self.permits.available_permits()
    }

    /// A slot if one is free now, without queueing (for warm processes, which must never
    /// make a client wait).
    pub fn try_acquire(&self) -> Option<RunPermit> {
        if self.queued() > 0 {
            return None;
        }
        let permit = self.permits.clone().try_acquire_owned().ok()?;
        Some(self.permit(permit))
    }

    /// Takes a place in the queue, or refuses with 429 when it is full.
    pub fn enqueue(&self) -> Result<QueueTicket, ApiError> {
        let previous = self.queued.fetch_add(1, Ordering::SeqCst);
        let ticket = QueueTicket {
            queued: self.queued.clone(),
        };
        // Waiting is only needed when every slot is busy.
        let busy = self.permits.available_permits() <= previous;
        if busy && previous >= self.queue_limit.load(Ordering::SeqCst) {
            drop(ticket);
            return Err(self.full_error());
        }
        Ok(ticket)
    }

    fn full_error(&self) -> ApiError {
        ApiError::new(
            ErrorKind::QueueFull,
            format!(
                "All {} claude CLI slots are busy and {} requests are already waiting. Retry \
                 shortly, or raise `max_concurrent` / `queue_limit` in the config.",
                self.max_concurrent(),
                self.queue_limit.load(Ordering::SeqCst)
            ),
        )
        .with_retry_after(QUEUE_RETRY_SECS)
    }

    /// Waits (FIFO) for a slot, at most `limit`.
    pub async fn acquire(
        &self,
        ticket: QueueTicket,
        limit: Duration,
    ) -> Result<RunPermit, ApiError> {
        let permit = tokio::time::timeout(limit, self.permits.clone().acquire_owned()).await;
        drop(ticket);
        match permit {
            Ok(Ok(permit)) => Ok(self.permit(permit)),
            Ok(Err(_)) => Err(ApiError::new(
                ErrorKind::Unavailable,
                "The proxy is shutting down; retry against the restarted daemon.",
            )),
            Err(_) => Err(ApiError::new(
                ErrorKind::QueueFull,
                format!(
                    "Waited {} s for a free claude CLI slot (all {} busy). Retry shortly, or \
                     raise `max_concurrent` or `queue_timeout_secs`.",
                    limit.as_secs(),
                    self.max_concurrent()
                ),
            )
            .with_retry_after(QUEUE_RETRY_SECS)),
        }
    }

    /// Whether [`Limiter::close`] was called (the daemon is stopping).
    pub fn is_closed(&self) -> bool {
        self.permits.is_closed()
    }

    /// Refuses every new and waiting request (at shutdown).
    pub fn close(&self) {
        self.permits.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn queue_overflow_is_429_and_waiters_are_fifo() {
        let limiter = Arc::new(Limiter::new(1, 1));
        let first = limiter
            .acquire(limiter.enqueue().unwrap(), Duration::from_secs(1))
            .await
            .unwrap();
        assert_eq!(limiter.running(), 1);
        let waiting = limiter.enqueue().unwrap();
        let err = limiter.enqueue().unwrap_err();
        assert_eq!(err.status(), 429);
        assert!(err.retry_after.is_some());

        let l2 = limiter.clone();
        let waiter = tokio::spawn(async move { l2.acquire(waiting, Duration::from_secs(5)).await });
        tokio::task::yield_now().await;
        drop(first);
        let second = waiter.await.unwrap().unwrap();
        assert_eq!(limiter.running(), 1);
        assert_eq!(limiter.queued(), 0);
        drop(second);
        assert_eq!(limiter.running(), 0);
    }

    #[tokio::test]
    async fn a_dropped_waiter_leaves_the_queue() {
        let limiter = Arc::new(Limiter::new(1, 4));
        let _busy = limiter
            .acquire(limiter.enqueue().unwrap(), Duration::from_secs(1))
            .await
            .unwrap();
        let ticket = limiter.enqueue().unwrap();
        assert_eq!(limiter.queued(), 1);
        let l2 = limiter.clone();
        let waiter = tokio::spawn(async move { l2.acquire(ticket, Duration::from_secs(60)).await });
        tokio::task::yield_now().await;
        waiter.abort();
        let _ = waiter.await;
        assert_eq!(limiter.queued(), 0);
    }

    /// Lowering the limit below the runs in progress never lets more than the new limit run
    /// once they end; raising it frees slots at once.
    #[tokio::test]
    async fn resize_holds_the_new_limit() {
        let limiter = Limiter::new(2, 4);
        let a = limiter.try_acquire().unwrap();
        let b = limiter.try_acquire().unwrap();
        limiter.resize(1, 4);
        assert_eq!(limiter.max_concurrent(), 1);
        drop(a);
        assert!(
            limiter.try_acquire().is_none(),
            "still one running at limit 1"
        );
        drop(b);
        let c = limiter.try_acquire().expect("one slot at limit 1");
        assert!(limiter.try_acquire().is_none());
        limiter.resize(3, 4);
        let d = limiter.try_acquire().unwrap();
        let e = limiter.try_acquire().unwrap();
        assert!(limiter.try_acquire().is_none());
        assert_eq!(limiter.running(), 3);
        drop((c, d, e));
        assert_eq!(limiter.available(), 3);
    }

    /// Raising the limit while permits are owed pays the debt first.
    #[tokio::test]
    async fn growing_after_shrinking_repays_the_debt() {
        let limiter = Limiter::new(2, 4);
        let a = limiter.try_acquire().unwrap();
        let b = limiter.try_acquire().unwrap();
        limiter.resize(1, 4);
        limiter.resize(2, 4);
        assert!(limiter.try_acquire().is_none());
        drop(a);
        drop(b);
        assert_eq!(limiter.available(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn waiting_too_long_is_429() {
        let limiter = Limiter::new(1, 4);
        let _busy = limiter
            .acquire(limiter.enqueue().unwrap(), Duration::from_secs(1))
            .await
            .unwrap();
        let err = limiter
            .acquire(limiter.enqueue().unwrap(), Duration::from_secs(3))
            .await
            .unwrap_err();
        assert_eq!(err.status(), 429);
    }
}

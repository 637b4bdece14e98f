//! The Responses API's memory holds what `responses_kept_mb` allows, counted as it is
//! really held (issue 20): answers whose input is many tiny parts — whose parsed JSON costs
//! far more than its text — are kept within the budget. Measured with a counting allocator
//! (this test binary's own), so the figures are exact, not estimates.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use claude_max_proxy::api::responses::{Kept, ResponseStore, StoreLimits, parse_responses_request};

/// The system allocator, counting the bytes live on each thread.
struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
}

fn count(delta: isize) {
    let _ = LIVE.try_with(|live| live.set(live.get() + delta));
}

// SAFETY: every call is passed on to the system allocator unchanged; the count is a
// thread-local integer (no allocation, no lock).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as isize);
        // SAFETY: the caller's guarantees are passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-(layout.size() as isize));
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size as isize - layout.size() as isize);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Bytes allocated and not freed on this thread.
fn live() -> isize {
    LIVE.with(Cell::get)
}

/// A Responses request whose input is one user message of `parts` one-letter parts.
fn tiny_parts(parts: usize) -> String {
    let part = r#"{"type":"input_text","text":"a"},"#.repeat(parts);
    let part = part.trim_end_matches(',');
    format!(
        r#"{{"model":"claude-opus-4","store":true,"input":[{{"role":"user","content":[{part}]}}]}}"#
    )
}

/// Parses `body` and keeps its conversation and input items as response `id`, as the
/// daemon does when the answer is done.
fn keep(store: &ResponseStore, id: &str, body: &str, limits: StoreLimits) -> bool {
    let request = parse_responses_request(body.as_bytes(), |_| None).expect("a valid request");
    let kept = Kept {
        messages: request.meta.conversation(&request.chat),
        input_items: request.meta.input_items,
        response: serde_json::json!({"id": id, "object": "response", "output": []}),
    };
    store.keep(id, kept, limits)
}

/// Ten answers of 60,000 tiny parts each (about 2 MB of JSON apiece), under a 16 MB
/// budget: what the store holds stays within the budget (and within a quarter of what it
/// says it holds); the oldest answers went to make room.
#[test]
fn kept_answers_of_tiny_parts_stay_within_the_budget() {
    let store = ResponseStore::new();
    let limits = StoreLimits {
        count: 100,
        bytes: 16 << 20,
    };
    let body = tiny_parts(60_000);
    let before = live();
    for i in 0..10 {
        keep(&store, &format!("resp_{i}"), &body, limits);
        let held = live() - before;
        assert!(
            held as f64 <= limits.bytes as f64 * 1.25,
            "after {} answers the store holds {held} bytes for a budget of {} ({} kept, \
             counted as {} bytes)",
            i + 1,
            limits.bytes,
            store.len(),
            store.bytes()
        );
        let counted = store.bytes() as f64;
        assert!(
            (held as f64) < counted * 1.25 + 4096.0 && counted < held as f64 * 1.25 + 4096.0,
            "the store counts {counted} bytes and holds {held}"
        );
    }
    println!(
        "{} kept, counted {} bytes, held {} bytes",
        store.len(),
        store.bytes(),
        live() - before
    );
    assert!(store.len() >= 2, "{} kept", store.len());
    drop(store);
    assert!(
        live() - before < 64 * 1024,
        "{} bytes left",
        live() - before
    );
}

//! The memory a parser may take for one input: at most `BYTES_PER_INPUT_BYTE`
//! times the input's size, plus `SLACK`, live at once. A global allocator
//! counts the bytes live; [`check`] runs one input and fails the target
//! (libFuzzer keeps the input) when the peak above what was live before
//! passes the bound. A parser that builds gigabytes from a short input
//! fails here long before it would exhaust a server.

use std::{
    alloc::{GlobalAlloc, Layout, System},
    sync::atomic::{AtomicUsize, Ordering::Relaxed},
};

/// Parsed JSON costs a small multiple of its text (a `Value` is 32 bytes,
/// a map entry a few dozen, vectors double as they grow).
const BYTES_PER_INPUT_BYTE: usize = 64;
const SLACK: usize = 64 * 1024;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

pub struct Counting;

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Relaxed) + layout.size();
        PEAK.fetch_max(live, Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() {
            let live = LIVE.fetch_add(new_size - layout.size(), Relaxed) + new_size - layout.size();
            PEAK.fetch_max(live, Relaxed);
        } else {
            LIVE.fetch_sub(layout.size() - new_size, Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

/// Runs `parse` on an input of `len` bytes; panics when it held more than
/// the bound at once.
#[allow(dead_code)]
pub fn check(len: usize, parse: impl FnOnce()) {
    check_within(len, SLACK, parse);
}

/// [`check`] with another fixed part: for a parser that reads a fixed
/// document of its own besides the input (the settings' defaults).
#[allow(dead_code)]
pub fn check_within(len: usize, slack: usize, parse: impl FnOnce()) {
    let before = LIVE.load(Relaxed);
    PEAK.store(before, Relaxed);
    parse();
    let held = PEAK.load(Relaxed).saturating_sub(before);
    let bound = BYTES_PER_INPUT_BYTE * len + slack;
    assert!(
        held <= bound,
        "{held} bytes live at once for a {len}-byte input (bound {bound})"
    );
}

//! `encode` runs inside libc hooks (vfork children included): it must not
//! allocate. A counting global allocator watches the test's own thread.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use rampart_event::{EventRef, EventType, MAX_LINE, encode};
use rampart_policy::{Access, Category};

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count() {
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

struct Counting;

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged, so `System`'s guarantees are ours; counting touches only a
// `const`-initialised thread-local without a destructor.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: the caller upholds `GlobalAlloc::alloc_zeroed`'s contract.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller upholds `GlobalAlloc::dealloc`'s contract.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn encode_never_allocates() {
    let long = "é\u{1}\"\u{2028}x".repeat(3000);
    let bad: Vec<u8> = (0..=255u8).cycle().take(9000).collect();
    let items: Vec<Vec<u8>> = (0..1000).map(|i| format!("{i:0100}").into_bytes()).collect();
    let argv: Vec<&[u8]> = items.iter().map(Vec::as_slice).collect();
    let small: &[&[u8]] = &[b"git", b"\xff\xfe", b"clone"];
    let full = EventRef {
        cat: Some(Category::Process),
        op: Some("execve"),
        target: Some(b"/usr/bin/git"),
        access: Some(Access::RW),
        argv: Some(small),
        msg: Some("m"),
        count: Some(7),
        req: Some("8f5d"),
        function: Some("orders"),
        ..EventRef::new(EventType::Block, 8, 1764280000123)
    };
    let events = [
        full,
        EventRef { target: Some(long.as_bytes()), ..full },
        EventRef { target: Some(&bad), ..full },
        EventRef { argv: Some(&argv), ..full },
        EventRef { msg: Some(&long), op: Some(&long), req: Some(&long), function: Some(&long), ..full },
        EventRef::new(EventType::Status, 0, 0),
    ];
    let mut buf = vec![0u8; MAX_LINE + 100];
    let mut written = 0;

    ALLOCATIONS.with(|n| n.set(0));
    for ev in &events {
        for len in [0, 1, 50, 100, 200, 500, 1000, MAX_LINE, MAX_LINE + 100] {
            written += encode(ev, &mut buf[..len]);
        }
    }
    let allocations = ALLOCATIONS.with(Cell::get);

    assert!(written > 6 * MAX_LINE);
    assert_eq!(allocations, 0, "encode allocated");
    // The counter works: this allocates.
    let v = std::hint::black_box(vec![1u8; 10]);
    drop(v);
    assert!(ALLOCATIONS.with(Cell::get) > 0);
}

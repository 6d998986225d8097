//! The library's global allocator: the C library's malloc, except for the
//! one thread that is loading a new policy *inside a hook*.
//!
//! A child process follows its root's policy changes by loading the new
//! snapshot when a hook first notices the change (see `control`). That hook
//! may be running where malloc must not be called: in a vfork child, in a
//! signal handler that interrupted malloc, in the fork child of a
//! multithreaded parent. While such a load runs, its thread's allocations
//! are carved from anonymous mappings instead (raw `mmap`: no lock, no
//! malloc state) and never given back — the policy they hold is leaked on
//! swap anyway, by design (`state`), and a load's temporaries are small.
//!
//! Everywhere else (constructor, refresh thread, error messages) this is
//! malloc, so the library's footprint does not change.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

pub struct HookAlloc;

/// `pthread_self()` of the thread whose allocations come from the arena; 0
/// when none. Only `ArenaScope` sets it, and one at a time (the caller
/// holds the reload flag).
static ARENA_THREAD: AtomicUsize = AtomicUsize::new(0);

/// The mappings handed out so far, so `dealloc` can tell arena memory
/// (never freed) from malloc's. Bounded: when full, the arena stops
/// growing and allocations fail (a reload then keeps the old policy).
const MAX_CHUNKS: usize = 64;
static CHUNK_START: [AtomicUsize; MAX_CHUNKS] = [const { AtomicUsize::new(0) }; MAX_CHUNKS];
static CHUNK_END: [AtomicUsize; MAX_CHUNKS] = [const { AtomicUsize::new(0) }; MAX_CHUNKS];
static CHUNKS: AtomicUsize = AtomicUsize::new(0);
/// The bump pointer and end of the newest chunk; touched by the arena
/// thread only.
static NEXT: AtomicUsize = AtomicUsize::new(0);
static END: AtomicUsize = AtomicUsize::new(0);

const CHUNK_MIN: usize = 1 << 20;

fn me() -> usize {
    // SAFETY: pthread_self has no preconditions and never fails.
    unsafe { libc::pthread_self() as usize }
}

fn on_arena_thread() -> bool {
    let t = ARENA_THREAD.load(Ordering::Acquire);
    t != 0 && t == me()
}

fn in_arena(ptr: *mut u8) -> bool {
    let n = CHUNKS.load(Ordering::Acquire);
    let p = ptr as usize;
    (0..n.min(MAX_CHUNKS)).any(|i| {
        let (Some(start), Some(end)) = (CHUNK_START.get(i), CHUNK_END.get(i)) else { return false };
        (start.load(Ordering::Acquire)..end.load(Ordering::Acquire)).contains(&p)
    })
}

fn arena_alloc(layout: Layout) -> *mut u8 {
    let align = layout.align().max(16);
    let size = layout.size().max(1);
    let start = NEXT.load(Ordering::Relaxed).next_multiple_of(align);
    if let Some(end) = start.checked_add(size)
        && start != 0
        && end <= END.load(Ordering::Relaxed)
    {
        NEXT.store(end, Ordering::Relaxed);
        return start as *mut u8;
    }
    let n = CHUNKS.load(Ordering::Acquire);
    if n >= MAX_CHUNKS {
        return std::ptr::null_mut();
    }
    let Some(len) = size.checked_add(align).map(|l| l.max(CHUNK_MIN).next_multiple_of(4096)) else {
        return std::ptr::null_mut();
    };
    // SAFETY: an anonymous private mapping; no existing memory is touched.
    let base = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if base == libc::MAP_FAILED {
        return std::ptr::null_mut();
    }
    let base = base as usize;
    if let (Some(s), Some(e)) = (CHUNK_START.get(n), CHUNK_END.get(n)) {
        s.store(base, Ordering::Release);
        e.store(base + len, Ordering::Release);
    }
    CHUNKS.store(n + 1, Ordering::Release);
    let start = base.next_multiple_of(align);
    NEXT.store(start + size, Ordering::Relaxed);
    END.store(base + len, Ordering::Relaxed);
    start as *mut u8
}

// SAFETY: alloc returns null or memory valid for the layout (malloc's, or a
// fresh part of a mapping never handed out twice); dealloc only frees
// malloc's memory, with malloc's free.
unsafe impl GlobalAlloc for HookAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if on_arena_thread() {
            return arena_alloc(layout);
        }
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if on_arena_thread() {
            // Already zero: chunks are fresh mappings and the bump
            // pointer never hands out the same byte twice.
            return arena_alloc(layout);
        }
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // Arena memory is never returned; malloc's memory is not freed on
        // the arena thread either (free may take malloc's lock) — leaked.
        if in_arena(ptr) || on_arena_thread() {
            return;
        }
        // SAFETY: the caller's contract: ptr came from System.alloc.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !on_arena_thread() && !in_arena(ptr) {
            // SAFETY: the caller's contract, passed on.
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        let Ok(new_layout) = Layout::from_size_align(new_size, layout.align()) else {
            return std::ptr::null_mut();
        };
        // SAFETY: as alloc.
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: both blocks are valid for the smaller size and distinct.
            unsafe { std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size)) };
            // SAFETY: as dealloc.
            unsafe { self.dealloc(ptr, layout) };
        }
        new
    }
}

/// While alive, this thread's allocations come from the arena. The caller
/// guarantees no other thread holds a scope (it holds the reload flag).
pub struct ArenaScope(());

impl ArenaScope {
    pub fn enter() -> ArenaScope {
        ARENA_THREAD.store(me(), Ordering::Release);
        ArenaScope(())
    }
}

impl Drop for ArenaScope {
    fn drop(&mut self) {
        ARENA_THREAD.store(0, Ordering::Release);
    }
}

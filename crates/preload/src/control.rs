//! The control page: how every process under the root follows the root's
//! policy changes without a network connection of its own.
//!
//! The root (the process the wrapper or `rampart run` started) keeps one
//! page in a memfd, mapped shared: a magic number, its pid, and one 64-bit
//! word holding the current policy's generation and the descriptor of its
//! sealed snapshot (see `snapshot`). One word, so a reader never sees a
//! generation with another generation's descriptor. Writes and growth are
//! sealed off once the root has mapped it (`F_SEAL_FUTURE_WRITE`), so only
//! the root's own mapping can change it.
//!
//! Children reach it as `/proc/ROOT/fd/N` (`RAMPART_SNAPSHOT`, re-injected
//! at every exec); fork children inherit the mapping.
//!
//! A descriptor number proves nothing: code in the root can `dup2` a
//! sealed memfd of its own (an allow-everything snapshot, a forged page)
//! over either number. So what a child opens must be the very file its
//! root created: `RAMPART_SNAPSHOT` carries the page's identity (`st_dev`,
//! `st_ino`), and the page, which only the root's own mapping can write,
//! carries the identity of each generation's snapshot next to it. A child
//! `fstat`s what it opened and refuses anything else (see
//! `rampart_decide::childenv::RootRef`); the identities are kept in a
//! small ring indexed by generation, each slot checked before and after it
//! is read, so a reader never pairs one generation's descriptor with
//! another's identity.
//!
//! Every checked hook in
//! a child compares the word's generation with the one it loaded (two
//! loads); on a change, the first hook to notice loads the new snapshot on
//! the arena (`alloc`) and swaps it in, and the others go on with the old
//! one meanwhile rather than wait.

use std::ffi::{CStr, CString, c_int};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, Ordering};

use rampart_event::EventType;

use rampart_decide::childenv::FileId;
use rampart_decide::seqtext::SeqText;
use rampart_policy::Verdict;

use crate::page::{MAGIC, PAGE, PAGE_PTR, Page, Published, RING, page, split};
use crate::{alloc, published, report, snapshot, sys};

/// Not in the libc crate for every target; Linux's value (5.1+).
const F_SEAL_FUTURE_WRITE: c_int = 0x0010;

/// What every process under the root has decided during the invocation in
/// progress, for its heartbeat line: in a second memfd that every process
/// maps writable (the control page, `page`, is read-only to children). One
/// cache-line-sized slot per CPU, so threads on different CPUs do not
/// contend; the root sums them.
#[repr(C, align(64))]
struct Slot {
    allowed: AtomicU64,
    alerted: AtomicU64,
    blocked: AtomicU64,
}

const SLOTS: usize = PAGE / std::mem::size_of::<Slot>();
type Counters = [Slot; SLOTS];

static COUNTERS: AtomicPtr<Counters> = AtomicPtr::new(std::ptr::null_mut());

/// The generation this process's policy came from.
static LOADED: AtomicU32 = AtomicU32::new(0);
/// True in the root: it publishes, never follows. Cleared in fork children.
static IS_ROOT: AtomicBool = AtomicBool::new(false);
/// Held by the one thread loading a new generation.
static RELOADING: AtomicBool = AtomicBool::new(false);
/// The root's own descriptor of the page.
static CONTROL_FD: AtomicU32 = AtomicU32::new(u32::MAX);
/// The root's previous snapshot descriptor, closed one change later (a
/// child may be opening it right now).
static PREVIOUS_FD: AtomicU32 = AtomicU32::new(u32::MAX);

/// Root: creates the page and publishes the first snapshot (generation 1).
/// Returns the path children open and the identity the page must have
/// there, or `None` (children then compile the policy themselves).
pub fn create(snapshot_fd: c_int) -> Option<(CString, FileId)> {
    let snapshot_id = snapshot::identity(snapshot_fd)?;
    let (fd, base) = shared_page(c"rampart-control", true)?;
    let page = base.cast::<Page>();
    // SAFETY: page is a fresh, writable, page-aligned mapping; getpid has
    // no preconditions.
    unsafe {
        page.write(Page {
            magic: MAGIC,
            root_pid: libc::getpid() as u64,
            current: AtomicU64::new(1u64 << 32 | snapshot_fd as u32 as u64),
            counters_fd: AtomicU64::new(u64::MAX),
            request: SeqText::new(),
            published: [const { Published { generation: AtomicU64::new(0), dev: AtomicU64::new(0), ino: AtomicU64::new(0) } };
                RING],
            counters_dev: AtomicU64::new(0),
            counters_ino: AtomicU64::new(0),
        })
    };
    // SAFETY: initialised just above; never unmapped.
    record(unsafe { &*page }, 1, snapshot_id);
    // Older kernels lack the future-write seal; the page then stays
    // writable through /proc by whoever may open it (the file policy
    // still applies to such opens).
    // SAFETY: fcntl on our own descriptor.
    unsafe { libc::fcntl(fd, libc::F_ADD_SEALS, libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | F_SEAL_FUTURE_WRITE) };
    let high = sys::move_high(fd)?;
    let control_id = snapshot::identity(high)?;
    LOADED.store(1, Ordering::Release);
    CONTROL_FD.store(high as u32, Ordering::Release);
    IS_ROOT.store(true, Ordering::Release);
    PAGE_PTR.store(page, Ordering::Release);
    // SAFETY: getpid has no preconditions.
    let path = CString::new(format!("/proc/{}/fd/{high}", unsafe { libc::getpid() })).ok()?;
    Some((path, control_id))
}

/// Root: writes a generation's snapshot identity into its slot, before
/// the word that names the generation is stored.
fn record(page: &Page, generation: u32, id: FileId) {
    let Some(slot) = page.published.get(generation as usize % RING) else { return };
    slot.generation.store(0, Ordering::Release);
    slot.dev.store(id.dev, Ordering::Release);
    slot.ino.store(id.ino, Ordering::Release);
    slot.generation.store(u64::from(generation), Ordering::Release);
}

/// The current generation, its snapshot's descriptor in the root and the
/// identity that descriptor must have; `None` while the slot is being
/// rewritten (the caller tries again later).
fn current(page: &Page) -> Option<(u32, c_int, FileId)> {
    let (generation, fd) = split(page.current.load(Ordering::Acquire));
    let slot = page.published.get(generation as usize % RING)?;
    if slot.generation.load(Ordering::Acquire) != u64::from(generation) {
        return None;
    }
    let id = FileId { dev: slot.dev.load(Ordering::Acquire), ino: slot.ino.load(Ordering::Acquire) };
    (slot.generation.load(Ordering::Acquire) == u64::from(generation)).then_some((generation, fd, id))
}

/// Root: makes `snapshot_fd` the current policy for every child.
pub fn publish(snapshot_fd: c_int) {
    let Some(page) = page().filter(|_| IS_ROOT.load(Ordering::Acquire)) else { return };
    let Some(id) = snapshot::identity(snapshot_fd) else {
        // Unknowable identity: children could never verify it, so the
        // previous snapshot stays the published one.
        // SAFETY: our own descriptor, named nowhere.
        unsafe { libc::close(snapshot_fd) };
        return;
    };
    let (generation, old_fd) = split(page.current.load(Ordering::Acquire));
    let next = generation.wrapping_add(1).max(1);
    record(page, next, id);
    LOADED.store(next, Ordering::Release);
    page.current.store(u64::from(next) << 32 | snapshot_fd as u32 as u64, Ordering::Release);
    let older = PREVIOUS_FD.swap(old_fd as u32, Ordering::AcqRel);
    if older != u32::MAX {
        // SAFETY: a snapshot descriptor this process created and no longer
        // names anywhere.
        unsafe { libc::close(older as c_int) };
    }
}

/// Child: maps the root's page (read-only) and loads its current policy.
/// `expected` is the identity the page must have (from `RAMPART_SNAPSHOT`).
pub fn attach(path: &CString, expected: FileId) -> Result<rampart_policy::Matcher, String> {
    let shown = path.to_string_lossy();
    // SAFETY: NUL-terminated path; the raw call bypasses the hooks.
    let fd = unsafe {
        crate::sys::raw_syscall!(libc::SYS_openat, libc::AT_FDCWD, path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC)
    } as c_int;
    if fd < 0 {
        return Err(format!("cannot open the control page {shown}: {}", std::io::Error::last_os_error()));
    }
    if snapshot::identity(fd) != Some(expected) {
        // SAFETY: opened above, not used after this.
        unsafe { libc::close(fd) };
        return Err(format!("{shown} is not the root's control page (another file at that descriptor)"));
    }
    // SAFETY: a read-only shared mapping of one page of our descriptor,
    // which can be closed once mapped.
    let base = unsafe {
        let base = libc::mmap(std::ptr::null_mut(), PAGE, libc::PROT_READ, libc::MAP_SHARED, fd, 0);
        libc::close(fd);
        base
    };
    if base == libc::MAP_FAILED {
        return Err(format!("cannot map the control page {shown}: {}", std::io::Error::last_os_error()));
    }
    let page = base.cast::<Page>();
    // SAFETY: a readable page; magic is plain data.
    if unsafe { (*page).magic } != MAGIC {
        return Err(format!("{shown} is not a rampart control page"));
    }
    PAGE_PTR.store(page, Ordering::Release);
    let page = crate::page::page().ok_or("control page vanished")?;
    let counters_fd = page.counters_fd.load(Ordering::Acquire);
    if counters_fd != u64::MAX {
        let id =
            FileId { dev: page.counters_dev.load(Ordering::Acquire), ino: page.counters_ino.load(Ordering::Acquire) };
        let path = CString::new(format!("/proc/{}/fd/{counters_fd}", page.root_pid)).unwrap_or_default();
        map_counters(&path, id);
    }
    // The root may be mid-publish: its slot is rewritten for a moment.
    let (generation, fd, id) = (0..100)
        .find_map(|_| {
            current(page).or_else(|| {
                std::thread::yield_now();
                None
            })
        })
        .ok_or("the root's control page names no snapshot")?;
    // Recorded before the load: if it fails, the hooks do not try this
    // generation again (one error line), but do follow the next one.
    LOADED.store(generation, Ordering::Release);
    snapshot::load(&snapshot_path(page, fd), id)
}

fn snapshot_path(page: &Page, fd: c_int) -> CString {
    // Allocates: callers are the constructor or a hook on the arena.
    CString::new(format!("/proc/{}/fd/{fd}", page.root_pid)).unwrap_or_default()
}

fn getpid() -> u64 {
    // SAFETY: getpid has no preconditions (and is not cached by glibc).
    unsafe { libc::getpid() as u64 }
}

/// Root, before an exec that replaces the root process itself (`exec` in
/// place, e.g. a shell's last command): the page and the current snapshot
/// are kept open across it, so the new program starts under the current
/// policy (`took_over`) instead of with none. Returns what to put back if
/// the exec fails. Nothing to do in a vfork child (another pid).
pub fn keep_across_exec() -> Option<[c_int; 3]> {
    if !is_root_process() {
        return None;
    }
    let page = page()?;
    // The log too: the new program writes to the very file the old one did
    // (see `report::open_log`), and children keep verifying it.
    let fds =
        [CONTROL_FD.load(Ordering::Acquire) as c_int, split(page.current.load(Ordering::Acquire)).1, report::log_fd()];
    for fd in fds.into_iter().filter(|&fd| fd >= 0) {
        // SAFETY: fcntl on descriptors this process created.
        unsafe { libc::fcntl(fd, libc::F_SETFD, 0) };
    }
    Some(fds)
}

/// After `keep_across_exec`, when the exec failed: close-on-exec again.
pub fn exec_failed(kept: Option<[c_int; 3]>) {
    for fd in kept.into_iter().flatten().filter(|&fd| fd >= 0) {
        // SAFETY: as above.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
}

/// Constructor, after `attach`: whether this process is its root's own
/// pid, i.e. the root replaced itself with this program. If so the
/// descriptors it kept open for us are closed and the page let go: this
/// process becomes the root (its own page, its own refresh).
pub fn took_over(path: &CString) -> bool {
    let Some(page) = page() else { return false };
    if page.root_pid != getpid() {
        return false;
    }
    let control_fd =
        path.to_bytes().rsplit(|&b| b == b'/').next().and_then(|n| std::str::from_utf8(n).ok()?.parse().ok());
    let snapshot_fd = split(page.current.load(Ordering::Acquire)).1;
    for fd in control_fd.into_iter().chain([snapshot_fd]) {
        // SAFETY: descriptors the previous program of this process kept
        // open for this constructor; nothing else knows them.
        unsafe { libc::close(fd) };
    }
    PAGE_PTR.store(std::ptr::null_mut(), Ordering::Release);
    COUNTERS.store(std::ptr::null_mut(), Ordering::Release);
    true
}

/// Root, under Lambda (the heartbeats read them): starts counting
/// decisions, in this process and every child started from now on.
pub fn count_decisions() {
    let Some(page) = page().filter(|_| IS_ROOT.load(Ordering::Acquire)) else { return };
    if let Some(fd) = create_counters() {
        page.counters_fd.store(fd as u64, Ordering::Release);
    }
}

/// Root: the counters memfd, mapped; its descriptor (kept open, high,
/// close-on-exec) for children.
fn create_counters() -> Option<c_int> {
    let (fd, base) = shared_page(c"rampart-counters", false)?;
    let high = sys::move_high(fd)?;
    let id = snapshot::identity(high)?;
    let page = page()?;
    page.counters_dev.store(id.dev, Ordering::Release);
    page.counters_ino.store(id.ino, Ordering::Release);
    COUNTERS.store(base.cast(), Ordering::Release);
    Some(high)
}

/// A one-page memfd mapped shared and writable: its descriptor and the
/// mapping (never unmapped).
fn shared_page(name: &CStr, sealing: bool) -> Option<(c_int, *mut libc::c_void)> {
    let fd = sys::memfd(name, sealing)?;
    // SAFETY: our own descriptor, sized to one page, then mapped shared.
    let base = unsafe {
        if libc::ftruncate(fd, PAGE as libc::off_t) == 0 {
            libc::mmap(std::ptr::null_mut(), PAGE, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED, fd, 0)
        } else {
            libc::MAP_FAILED
        }
    };
    if base == libc::MAP_FAILED {
        // SAFETY: our own descriptor, not used after this.
        unsafe { libc::close(fd) };
        return None;
    }
    Some((fd, base))
}

/// Child: maps the root's counters writable (raw calls: constructor).
/// Only the root's own counters: another file at that number (the code
/// can `dup2` one there) would have children write into it.
fn map_counters(path: &CString, expected: FileId) {
    // SAFETY: NUL-terminated path; a shared mapping of one page of it; the
    // descriptor is closed once mapped.
    unsafe {
        let fd =
            crate::sys::raw_syscall!(libc::SYS_openat, libc::AT_FDCWD, path.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC)
                as c_int;
        if fd < 0 {
            return;
        }
        if snapshot::identity(fd) != Some(expected) {
            libc::close(fd);
            return;
        }
        let base = libc::mmap(std::ptr::null_mut(), PAGE, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED, fd, 0);
        libc::close(fd);
        if base != libc::MAP_FAILED {
            COUNTERS.store(base.cast(), Ordering::Release);
        }
    }
}

/// Counts one decision for the heartbeat of the invocation in progress.
pub fn tally(v: Verdict) {
    // SAFETY: non-null only once mapped (never unmapped); slots are atomics.
    let Some(counters) = (unsafe { COUNTERS.load(Ordering::Relaxed).as_ref() }) else { return };
    // SAFETY: sched_getcpu reads the CPU number (rseq or vDSO); no state.
    let cpu = unsafe { libc::sched_getcpu() };
    let Some(slot) = counters.get(cpu.max(0) as usize % SLOTS) else { return };
    let n = match v {
        Verdict::Allow | Verdict::Profile => &slot.allowed,
        Verdict::Alert => &slot.alerted,
        Verdict::Block => &slot.blocked,
    };
    n.fetch_add(1, Ordering::Relaxed);
}

/// Root: allowed, alerted and blocked so far, all processes, all CPUs.
pub fn totals() -> [u64; 3] {
    // SAFETY: as in tally.
    let Some(counters) = (unsafe { COUNTERS.load(Ordering::Acquire).as_ref() }) else { return [0; 3] };
    counters.iter().fold([0; 3], |[a, b, c], s| {
        [
            a + s.allowed.load(Ordering::Relaxed),
            b + s.alerted.load(Ordering::Relaxed),
            c + s.blocked.load(Ordering::Relaxed),
        ]
    })
}

/// Root: the request id every event line carries from now on (empty:
/// none). A busy slot (another writer) cannot happen: the relay is the
/// only writer and takes one invocation at a time.
pub fn set_request(id: &[u8]) {
    let Some(page) = page().filter(|_| IS_ROOT.load(Ordering::Acquire)) else { return };
    if let Some(begun) = page.request.begin() {
        page.request.store(id);
        page.request.end(begun);
    }
}

/// Root, in its own process (not a vfork child, which shares its memory
/// under another pid): an exec now replaces the root.
pub fn is_root_process() -> bool {
    IS_ROOT.load(Ordering::Relaxed) && page().is_some_and(|p| p.root_pid == getpid())
}

/// Child hooks: loads the root's new policy if it changed. Cheap when it
/// did not (two loads); never waits for another thread's load.
pub fn follow() {
    if IS_ROOT.load(Ordering::Relaxed) {
        return;
    }
    let Some(page) = page() else { return };
    let (generation, _) = split(page.current.load(Ordering::Acquire));
    if generation == LOADED.load(Ordering::Acquire) || RELOADING.swap(true, Ordering::AcqRel) {
        return;
    }
    // Mid-publish: the next hook tries again.
    let Some((generation, fd, id)) = current(page) else {
        RELOADING.store(false, Ordering::Release);
        return;
    };
    {
        let _arena = alloc::ArenaScope::enter();
        match snapshot::load(&snapshot_path(page, fd), id) {
            Ok(m) => published::swap(m),
            Err(e) => report::message(EventType::Error, &format!("following the root's policy change: {e}")),
        }
    }
    // Recorded even on failure: one error line per change, not per call.
    LOADED.store(generation, Ordering::Release);
    RELOADING.store(false, Ordering::Release);
}

/// In a fork child: it is not the root any more, and no load is running
/// in it (the thread that held the flag was not copied).
pub fn after_fork_in_child() {
    IS_ROOT.store(false, Ordering::Release);
    RELOADING.store(false, Ordering::Release);
}

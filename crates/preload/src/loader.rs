//! Symbol lookups in the loaded objects' own dynamic tables, for the two
//! answers `dlsym` cannot give the library once it exports `dlsym` itself
//! (hooks/dl.rs):
//!
//! - the real `dlsym` and `dlvsym` behind the exported ones: asking
//!   `dlsym` for them would ask ourselves;
//! - whether librampart exports a name (as a hook), checked on every
//!   lookup through a handle: a hash probe in our own table, no lock.
//!
//! Everything is found once (in the constructor, or by the first lookup
//! that comes earlier) and kept in atomics.

use std::ffi::{CStr, c_char, c_int, c_void};
use std::sync::atomic::{AtomicUsize, Ordering};

use rampart_decide::dynsym::{gnu_hash, is_default_function, sysv_hash};

const PT_LOAD: u32 = 1;
const PT_DYNAMIC: u32 = 2;
const DT_NULL: i64 = 0;
const DT_HASH: i64 = 4;
const DT_STRTAB: i64 = 5;
const DT_SYMTAB: i64 = 6;
const DT_GNU_HASH: i64 = 0x6fff_fef5;
const DT_VERSYM: i64 = 0x6fff_fff0;

/// An `Elf64_Dyn` (x86_64 and aarch64 are both 64-bit).
#[repr(C)]
#[derive(Clone, Copy)]
struct Dyn {
    tag: i64,
    val: u64,
}

/// Where one loaded object's dynamic symbols are (absolute addresses;
/// 0 for a table it does not have).
#[derive(Clone, Copy, Default)]
struct Tables {
    base: usize,
    symtab: usize,
    strtab: usize,
    gnu_hash: usize,
    sysv_hash: usize,
    versym: usize,
}

/// Reads a `T` from the loaded image.
///
/// # Safety
/// `addr` is a mapped, aligned `T` inside a loaded object.
unsafe fn at<T: Copy>(addr: usize) -> T {
    // SAFETY: the caller's contract.
    unsafe { (addr as *const T).read() }
}

impl Tables {
    /// From the program headers `dl_iterate_phdr` describes.
    ///
    /// # Safety
    /// `info` describes a loaded object (its headers and dynamic section
    /// are mapped).
    unsafe fn of(info: &libc::dl_phdr_info) -> Option<Tables> {
        let base = info.dlpi_addr as usize;
        let mut dynamic = 0usize;
        for i in 0..usize::from(info.dlpi_phnum) {
            // SAFETY: dlpi_phdr holds dlpi_phnum headers.
            let ph = unsafe { &*info.dlpi_phdr.add(i) };
            if ph.p_type == PT_DYNAMIC {
                dynamic = base.wrapping_add(ph.p_vaddr as usize);
            }
        }
        if dynamic == 0 {
            return None;
        }
        let mut t = Tables { base, ..Tables::default() };
        // ld.so rewrites these entries to absolute addresses on x86_64 and
        // aarch64; an entry still below the base is an offset from it.
        let absolute = |v: u64| if (v as usize) < base { base.wrapping_add(v as usize) } else { v as usize };
        let mut entry = dynamic;
        for _ in 0..4096 {
            // SAFETY: the dynamic section is an array of Dyn ending in DT_NULL.
            let d: Dyn = unsafe { at(entry) };
            match d.tag {
                DT_NULL => break,
                DT_SYMTAB => t.symtab = absolute(d.val),
                DT_STRTAB => t.strtab = absolute(d.val),
                DT_GNU_HASH => t.gnu_hash = absolute(d.val),
                DT_HASH => t.sysv_hash = absolute(d.val),
                DT_VERSYM => t.versym = absolute(d.val),
                _ => {}
            }
            entry += size_of::<Dyn>();
        }
        (t.symtab != 0 && t.strtab != 0 && (t.gnu_hash != 0 || t.sysv_hash != 0)).then_some(t)
    }

    /// The address of the object's default definition of function `name`.
    ///
    /// # Safety
    /// The tables are those of a loaded object.
    unsafe fn lookup(&self, name: &[u8]) -> Option<usize> {
        if self.gnu_hash != 0 {
            // SAFETY: the tables are mapped (the caller's contract).
            unsafe { self.lookup_gnu(name) }
        } else {
            // SAFETY: as above.
            unsafe { self.lookup_sysv(name) }
        }
    }

    /// The symbol at `index`, if it is `name`'s default definition.
    ///
    /// # Safety
    /// `index` is within the symbol table.
    unsafe fn definition(&self, index: usize, name: &[u8]) -> Option<usize> {
        // SAFETY: the caller's contract; Elf64_Sym is 24 bytes, aligned.
        let sym: libc::Elf64_Sym = unsafe { at(self.symtab + index * size_of::<libc::Elf64_Sym>()) };
        // SAFETY: st_name is an offset into the string table.
        let sym_name = unsafe { CStr::from_ptr((self.strtab + sym.st_name as usize) as *const c_char) };
        if sym_name.to_bytes() != name {
            return None;
        }
        // SAFETY: DT_VERSYM has one u16 per symbol.
        let versym = (self.versym != 0).then(|| unsafe { at::<u16>(self.versym + index * 2) });
        is_default_function(sym.st_info, sym.st_shndx, sym.st_value, versym)
            .then(|| self.base.wrapping_add(sym.st_value as usize))
    }

    /// # Safety
    /// As [`Tables::lookup`], with a `DT_GNU_HASH` table.
    unsafe fn lookup_gnu(&self, name: &[u8]) -> Option<usize> {
        let gh = self.gnu_hash;
        // The DT_GNU_HASH layout: four u32 (nbuckets, symoffset, bloom
        // words, bloom shift), the bloom words (u64), the buckets (u32),
        // then one chain word per symbol from symoffset on.
        // SAFETY: the header's four words.
        let (nbuckets, symoffset, bloom_words, bloom_shift) =
            unsafe { (at::<u32>(gh), at::<u32>(gh + 4), at::<u32>(gh + 8), at::<u32>(gh + 12)) };
        if nbuckets == 0 || bloom_words == 0 {
            return None;
        }
        let h = gnu_hash(name);
        let bloom = gh + 16;
        // SAFETY: a bloom word: the index is reduced modulo bloom_words.
        let word: u64 = unsafe { at(bloom + 8 * ((h / 64) % bloom_words) as usize) };
        let mask = (1u64 << (h % 64)) | (1u64 << ((h >> (bloom_shift % 32)) % 64));
        if word & mask != mask {
            return None;
        }
        let buckets = bloom + 8 * bloom_words as usize;
        let chains = buckets + 4 * nbuckets as usize;
        // SAFETY: a bucket: the index is reduced modulo nbuckets.
        let first = unsafe { at::<u32>(buckets + 4 * (h % nbuckets) as usize) };
        if first < symoffset {
            return None;
        }
        for index in first..first.saturating_add(1 << 16) {
            // SAFETY: chains run from symoffset to the last symbol, each
            // ending with its low bit set.
            let chain = unsafe { at::<u32>(chains + 4 * (index - symoffset) as usize) };
            if chain | 1 == h | 1
                // SAFETY: index is a symbol of this chain.
                && let Some(addr) = unsafe { self.definition(index as usize, name) }
            {
                return Some(addr);
            }
            if chain & 1 != 0 {
                break;
            }
        }
        None
    }

    /// # Safety
    /// As [`Tables::lookup`], with a `DT_HASH` table.
    unsafe fn lookup_sysv(&self, name: &[u8]) -> Option<usize> {
        let sh = self.sysv_hash;
        // DT_HASH is nbucket, nchain, the buckets, the chains (u32 each);
        // chain indexes are below nchain.
        // SAFETY: the header's two words.
        let (nbucket, nchain) = unsafe { (at::<u32>(sh), at::<u32>(sh + 4)) };
        if nbucket == 0 {
            return None;
        }
        let buckets = sh + 8;
        let chains = buckets + 4 * nbucket as usize;
        // SAFETY: a bucket: the index is reduced modulo nbucket.
        let mut index = unsafe { at::<u32>(buckets + 4 * (sysv_hash(name) % nbucket) as usize) };
        for _ in 0..nchain {
            if index == 0 || index >= nchain {
                break;
            }
            // SAFETY: index < nchain, the number of symbols.
            if let Some(addr) = unsafe { self.definition(index as usize, name) } {
                return Some(addr);
            }
            // SAFETY: a chain word: index < nchain.
            index = unsafe { at::<u32>(chains + 4 * index as usize) };
        }
        None
    }
}

/// Our own tables, and the real `dlsym`/`dlvsym` (0: not found yet).
static OWN: [AtomicUsize; 6] = [const { AtomicUsize::new(0) }; 6];
static REAL_DLSYM: AtomicUsize = AtomicUsize::new(0);
static REAL_DLVSYM: AtomicUsize = AtomicUsize::new(0);

fn store_own(t: &Tables) {
    let fields = [t.base, t.symtab, t.strtab, t.gnu_hash, t.sysv_hash, t.versym];
    // The symbol table last: it is what says the others are there.
    for (slot, v) in OWN.iter().zip(fields).rev() {
        slot.store(v, Ordering::Release);
    }
}

fn own_tables() -> Option<Tables> {
    let symtab = OWN.get(1)?.load(Ordering::Acquire);
    if symtab == 0 {
        return None;
    }
    let v = |i: usize| OWN.get(i).map_or(0, |a| a.load(Ordering::Acquire));
    Some(Tables { base: v(0), symtab, strtab: v(2), gnu_hash: v(3), sysv_hash: v(4), versym: v(5) })
}

/// What the walk over the loaded objects has found so far.
struct Walk {
    seen_self: bool,
    dlsym: usize,
    dlvsym: usize,
}

/// An address inside librampart, to recognise its own object.
fn own_address() -> usize {
    own_address as fn() -> usize as usize
}

fn contains(info: &libc::dl_phdr_info, addr: usize) -> bool {
    let base = info.dlpi_addr as usize;
    (0..usize::from(info.dlpi_phnum)).any(|i| {
        // SAFETY: dlpi_phdr holds dlpi_phnum headers.
        let ph = unsafe { &*info.dlpi_phdr.add(i) };
        let start = base.wrapping_add(ph.p_vaddr as usize);
        ph.p_type == PT_LOAD && addr >= start && addr - start < ph.p_memsz as usize
    })
}

unsafe extern "C" fn visit(info: *mut libc::dl_phdr_info, _size: usize, data: *mut c_void) -> c_int {
    // SAFETY: dl_iterate_phdr passes a valid info and our Walk.
    let (info, walk) = unsafe { (&*info, &mut *data.cast::<Walk>()) };
    if !walk.seen_self {
        if contains(info, own_address()) {
            walk.seen_self = true;
            // SAFETY: info describes our own, loaded, object.
            if let Some(t) = unsafe { Tables::of(info) } {
                store_own(&t);
            }
        }
        return 0;
    }
    // As RTLD_NEXT would: the first definition after librampart.
    // SAFETY: info describes a loaded object.
    if let Some(t) = unsafe { Tables::of(info) } {
        if walk.dlsym == 0 {
            // SAFETY: t are that object's tables.
            walk.dlsym = unsafe { t.lookup(b"dlsym") }.unwrap_or(0);
        }
        if walk.dlvsym == 0 {
            // SAFETY: as above.
            walk.dlvsym = unsafe { t.lookup(b"dlvsym") }.unwrap_or(0);
        }
    }
    c_int::from(walk.dlsym != 0 && walk.dlvsym != 0)
}

/// Finds our own tables and the real `dlsym`/`dlvsym`, once.
pub fn resolve() {
    if REAL_DLSYM.load(Ordering::Acquire) != 0 {
        return;
    }
    let mut walk = Walk { seen_self: false, dlsym: 0, dlvsym: 0 };
    // SAFETY: visit matches dl_iterate_phdr's callback and only reads the
    // objects it is shown; walk outlives the call.
    unsafe { libc::dl_iterate_phdr(Some(visit), (&raw mut walk).cast()) };
    let missing_dlsym = no_dlsym as unsafe extern "C" fn(*mut c_void, *const c_char) -> *mut c_void as usize;
    let missing_dlvsym =
        no_dlvsym as unsafe extern "C" fn(*mut c_void, *const c_char, *const c_char) -> *mut c_void as usize;
    REAL_DLVSYM.store(if walk.dlvsym != 0 { walk.dlvsym } else { missing_dlvsym }, Ordering::Release);
    REAL_DLSYM.store(if walk.dlsym != 0 { walk.dlsym } else { missing_dlsym }, Ordering::Release);
}

/// Stands in for a `dlsym` no object defines (nothing would work anyway).
unsafe extern "C" fn no_dlsym(_handle: *mut c_void, _name: *const c_char) -> *mut c_void {
    std::ptr::null_mut()
}

unsafe extern "C" fn no_dlvsym(_handle: *mut c_void, _name: *const c_char, _version: *const c_char) -> *mut c_void {
    std::ptr::null_mut()
}

/// The real `dlsym`'s address.
pub fn real_dlsym() -> usize {
    resolve();
    REAL_DLSYM.load(Ordering::Acquire)
}

/// What `name` means to the object after librampart: the function a hook
/// calls on (for real.rs; glibc places the caller by its return address,
/// which is in this library).
pub fn next_after_librampart(name: &CStr) -> *mut c_void {
    type DlsymFn = unsafe extern "C" fn(*mut c_void, *const c_char) -> *mut c_void;
    // SAFETY: real_dlsym is glibc's dlsym (or a stand-in of the same type).
    let dlsym = unsafe { std::mem::transmute::<usize, DlsymFn>(real_dlsym()) };
    // SAFETY: a NUL-terminated name, looked up after this object.
    unsafe { dlsym(libc::RTLD_NEXT, name.as_ptr()) }
}

/// The real `dlvsym`'s address.
pub fn real_dlvsym() -> usize {
    resolve();
    REAL_DLVSYM.load(Ordering::Acquire)
}

/// The loaded object an address lies in: its base address and its name
/// (`dlpi_name`: a path, or empty for the main program). Not `dladdr`,
/// which also searches the object's whole symbol table for the nearest
/// symbol (tens of thousands of instructions in libc).
pub fn object_containing(addr: usize) -> Option<(usize, &'static [u8])> {
    struct Find {
        addr: usize,
        found: Option<(usize, *const c_char)>,
    }
    unsafe extern "C" fn visit(info: *mut libc::dl_phdr_info, _size: usize, data: *mut c_void) -> c_int {
        // SAFETY: dl_iterate_phdr passes a valid info and our Find.
        let (info, find) = unsafe { (&*info, &mut *data.cast::<Find>()) };
        if contains(info, find.addr) {
            find.found = Some((info.dlpi_addr as usize, info.dlpi_name));
            return 1;
        }
        0
    }
    let mut find = Find { addr, found: None };
    // SAFETY: visit matches the callback type and only reads what it is
    // shown; find outlives the call.
    unsafe { libc::dl_iterate_phdr(Some(visit), (&raw mut find).cast()) };
    let (base, name) = find.found?;
    // SAFETY: dlpi_name is the object's l_name, a C string that lives as
    // long as the object stays loaded (the caller holds a handle or an
    // address inside it); null stands for the main program.
    let name = if name.is_null() { &[][..] } else { unsafe { CStr::from_ptr(name) }.to_bytes() };
    Some((base, name))
}

/// Whether the object `addr` lies in defines function `name` itself: an
/// interposer (a wrapper of `open` asking for the `open` after it).
pub fn object_defines(addr: usize, name: &[u8]) -> bool {
    struct Ask<'a> {
        addr: usize,
        name: &'a [u8],
        defines: bool,
    }
    unsafe extern "C" fn visit(info: *mut libc::dl_phdr_info, _size: usize, data: *mut c_void) -> c_int {
        // SAFETY: dl_iterate_phdr passes a valid info and our Ask.
        let (info, ask) = unsafe { (&*info, &mut *data.cast::<Ask<'_>>()) };
        if !contains(info, ask.addr) {
            return 0;
        }
        // SAFETY: info describes a loaded object; t are its tables.
        ask.defines = unsafe { Tables::of(info) }.is_some_and(|t| unsafe { t.lookup(ask.name) }.is_some());
        1
    }
    let mut ask = Ask { addr, name, defines: false };
    // SAFETY: visit matches the callback type and only reads what it is
    // shown; ask outlives the call.
    unsafe { libc::dl_iterate_phdr(Some(visit), (&raw mut ask).cast()) };
    ask.defines
}

/// Whether `addr` lies in librampart itself.
pub fn is_own(addr: usize) -> bool {
    let base = OWN.first().map_or(0, |a| a.load(Ordering::Acquire));
    base != 0 && loader_base_of(addr) == Some(base)
}

fn loader_base_of(addr: usize) -> Option<usize> {
    object_containing(addr).map(|(base, _)| base)
}

/// The address of librampart's own export `name`, if it has one.
pub fn own_export(name: &[u8]) -> Option<usize> {
    resolve();
    let t = own_tables()?;
    // SAFETY: our own tables, mapped while the library is.
    unsafe { t.lookup(name) }
}

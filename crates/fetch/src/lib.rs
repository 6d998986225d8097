//! librampart_fetch.so: fetches the policy object for librampart.so.
//!
//! Only the process the wrapper started loads this library (with
//! `dlopen`, from its refresh thread), so the HTTP, TLS and signature code
//! is never mapped by the children every exec creates. Everything crossing
//! the boundary is bytes in the format of `rampart_fetch_wire`; the calls
//! here run on the caller's refresh thread, which librampart.so marks as
//! its own so the hooks pass our file and socket calls through.
//!
//! Three entry points, all versioned in their names:
//! - `rampart_fetch_open_v1(config, len)` → a fetcher handle (never null);
//! - `rampart_fetch_get_v1(handle, etag, len, out)` → one conditional GET;
//! - `rampart_fetch_free_v1(buf)` releases a reply.

use std::time::Duration;

use rampart_fetch_wire::{Reply, decode_config, keys};
use rampart_s3::{Client, Config, GetObject, Location};
use rampart_sign::{METADATA_NAME, PublicKey};

/// A reply's bytes, allocated here and released by `rampart_fetch_free_v1`.
#[repr(C)]
pub struct Buf {
    pub ptr: *mut u8,
    pub len: usize,
}

/// What `open` built, or why it could not (reported on every GET, so the
/// caller sees the failure as a refresh error like any other).
struct Fetcher {
    setup: Result<Ready, Reply>,
}

struct Ready {
    client: Client,
    location: Location,
    key: Option<PublicKey>,
    max_bytes: u64,
}

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_MAX_BYTES: u64 = 16 << 20;

fn failed(kind: &str, message: String) -> Reply {
    Reply::Failed { kind: kind.to_owned(), message }
}

fn setup(config: &[(&str, &str)]) -> Result<Ready, Reply> {
    let get = |name: &str| config.iter().find(|(n, _)| *n == name).map(|(_, v)| (*v).to_owned());
    let timeout = get(keys::TIMEOUT_MS).and_then(|v| v.parse().ok()).map_or(DEFAULT_TIMEOUT, Duration::from_millis);
    let max_bytes = get(keys::MAX_BYTES).and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_MAX_BYTES);
    let url = get(keys::POLICY).unwrap_or_default();
    let function = get(keys::FUNCTION);
    let location = Location::parse(&url, function.as_deref()).map_err(|e| failed("config", e.to_string()))?;
    let key = match get(keys::KEY).filter(|k| !k.trim().is_empty()) {
        Some(text) => Some(
            PublicKey::parse(&text).map_err(|e| failed("config", format!("RAMPART_POLICY_KEY is not usable: {e}")))?,
        ),
        None => None,
    };
    let config = Config::from_vars(&get, timeout).map_err(|e| failed(e.kind().as_str(), e.to_string()))?;
    let client = Client::new(config).map_err(|e| failed(e.kind().as_str(), e.to_string()))?;
    Ok(Ready { client, location, key, max_bytes })
}

impl Ready {
    fn get(&self, etag: Option<&str>) -> Reply {
        let key = self.location.policy_key();
        let object = match self.client.get_object(&self.location.bucket, &key, etag, self.max_bytes) {
            Ok(GetObject::NotModified) => return Reply::NotModified,
            Ok(GetObject::NotFound) => return Reply::NotFound,
            Ok(GetObject::Found(object)) => object,
            Err(e) => return failed(e.kind().as_str(), e.to_string()),
        };
        if let Some(public) = &self.key {
            let signature = object.metadata.iter().find(|(name, _)| name == METADATA_NAME).map(|(_, v)| v.as_str());
            let problem = match signature {
                None => Some(format!(
                    "{}/{key} is not signed (no x-amz-meta-{METADATA_NAME}) and RAMPART_POLICY_KEY requires a signature",
                    self.location
                )),
                Some(sig) => public.verify(&object.body, sig).err().map(|e| format!("{}/{key}: {e}", self.location)),
            };
            if let Some(message) = problem {
                return Reply::Failed { kind: "signature".into(), message };
            }
        }
        Reply::Object { etag: object.etag.unwrap_or_default(), body: object.body }
    }
}

fn into_buf(reply: &Reply) -> Buf {
    let bytes = reply.encode().into_boxed_slice();
    let len = bytes.len();
    Buf { ptr: Box::into_raw(bytes).cast(), len }
}

/// Builds a fetcher from an encoded configuration. Never null.
///
/// # Safety
/// `config` points to `len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rampart_fetch_open_v1(config: *const u8, len: usize) -> *mut std::ffi::c_void {
    let bytes = if config.is_null() {
        &[][..]
    } else {
        // SAFETY: the caller's contract.
        unsafe { std::slice::from_raw_parts(config, len) }
    };
    let fetcher = Fetcher { setup: setup(&decode_config(bytes)) };
    Box::into_raw(Box::new(fetcher)).cast()
}

/// One conditional GET of the policy object; the reply goes to `*out`.
///
/// # Safety
/// `handle` came from `rampart_fetch_open_v1`; `etag` points to `len`
/// readable bytes (or is null); `out` is writable. Calls on one handle are
/// not concurrent (one refresh thread).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rampart_fetch_get_v1(
    handle: *mut std::ffi::c_void,
    etag: *const u8,
    len: usize,
    out: *mut Buf,
) {
    // SAFETY: a handle from rampart_fetch_open_v1, never freed.
    let fetcher = unsafe { &*handle.cast::<Fetcher>() };
    let etag = if etag.is_null() || len == 0 {
        None
    } else {
        // SAFETY: the caller's contract.
        std::str::from_utf8(unsafe { std::slice::from_raw_parts(etag, len) }).ok()
    };
    let reply = match &fetcher.setup {
        Ok(ready) => ready.get(etag),
        Err(reply) => reply.clone(),
    };
    // SAFETY: the caller's contract: out is writable.
    unsafe { out.write(into_buf(&reply)) };
}

/// Releases a reply from `rampart_fetch_get_v1`.
///
/// # Safety
/// `buf` came from `rampart_fetch_get_v1` and is released once.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rampart_fetch_free_v1(buf: Buf) {
    if !buf.ptr.is_null() {
        // SAFETY: the pointer and length of a leaked Box<[u8]>.
        drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(buf.ptr, buf.len)) });
    }
}

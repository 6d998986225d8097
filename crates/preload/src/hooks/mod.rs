//! The `extern "C"` entry points librampart.so exports, one file per
//! domain. Each converts raw arguments, asks `crate::ops`, and turns the
//! answer into what libc would return.

pub mod dl;
pub mod exec;
pub mod file;
pub mod net;
pub mod syscall;
pub mod variadic;

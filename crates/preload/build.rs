//! Compiles the C shim for the variadic exec entry points (execl, execle,
//! execlp), which stable Rust cannot define, and the unwinder stand-ins
//! that spare every process loading libgcc_s (see src/unwind_stubs.c).

fn main() {
    println!("cargo:rerun-if-changed=src/shim.c");
    println!("cargo:rerun-if-changed=src/unwind_stubs.c");
    // Whole archive: the stand-ins must be in the link before std's
    // references to the unwinder are resolved against libgcc_s.
    cc::Build::new()
        .file("src/shim.c")
        .file("src/unwind_stubs.c")
        .flag_if_supported("-fvisibility=hidden")
        .warnings(true)
        .cargo_metadata(false)
        .compile("rampart_shim");
    let out = std::env::var("OUT_DIR").unwrap_or_default();
    println!("cargo:rustc-link-search=native={out}");
    println!("cargo:rustc-link-lib=static:+whole-archive=rampart_shim");
}

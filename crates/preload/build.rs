//! Compiles the C shim for the variadic exec entry points (execl, execle,
//! execlp), which stable Rust cannot define.

fn main() {
    println!("cargo:rerun-if-changed=src/shim.c");
    cc::Build::new().file("src/shim.c").flag_if_supported("-fvisibility=hidden").warnings(true).compile("rampart_shim");
}

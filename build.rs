//! Links GCC's unwinder into avfs statically on glibc targets.
//!
//! Rust's standard library asks for `libgcc_s.so.1`, whose constructor probes
//! the CPU with a dozen `cpuid` instructions; on a virtual machine each one
//! exits to the hypervisor, and every start of avfs (each `proxy exec`) paid
//! about 0.1 ms for a library it only needs to unwind a panic. A directory
//! searched before the system's holds a `libgcc_s.so` that is a linker script
//! naming the static unwinder (`libgcc_eh.a`, what `crt-static` builds use)
//! instead; the binary then needs no `libgcc_s.so.1` at all.

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let static_crt = var("CARGO_CFG_TARGET_FEATURE")
        .split(',')
        .any(|f| f == "crt-static");
    if var("CARGO_CFG_TARGET_OS") != "linux" || var("CARGO_CFG_TARGET_ENV") != "gnu" || static_crt {
        return;
    }
    let dir = PathBuf::from(var("OUT_DIR")).join("static-unwinder");
    std::fs::create_dir_all(&dir).expect("create the linker script's directory");
    std::fs::write(dir.join("libgcc_s.so"), "INPUT(-lgcc_eh)\n").expect("write the linker script");
    println!("cargo:rustc-link-search=native={}", dir.display());
}

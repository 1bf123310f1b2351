//! Links GCC's unwinder into avfs statically on glibc targets.
//!
//! Rust's standard library asks for `libgcc_s.so.1`, whose constructor probes
//! the CPU with a dozen `cpuid` instructions; on a virtual machine each one
//! exits to the hypervisor, and every start of avfs (each `proxy exec`) paid
//! about 0.3 ms for a library it only needs to unwind a panic. A directory
//! searched before the system's holds a `libgcc_s.so` that is a linker script
//! naming the static unwinder (`libgcc_eh.a`, what `crt-static` builds use)
//! instead; the binary then needs no `libgcc_s.so.1` at all.

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CC");
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let static_crt = var("CARGO_CFG_TARGET_FEATURE")
        .split(',')
        .any(|f| f == "crt-static");
    if var("CARGO_CFG_TARGET_OS") != "linux" || var("CARGO_CFG_TARGET_ENV") != "gnu" || static_crt {
        return;
    }
    // Where the C compiler (the linker rustc drives here) has no static
    // unwinder, avfs keeps the shared one.
    let compiler = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let has_static_unwinder = std::process::Command::new(compiler)
        .arg("-print-file-name=libgcc_eh.a")
        .output()
        .ok()
        .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
        .is_some_and(|path| path.is_absolute() && path.exists());
    if !has_static_unwinder {
        return;
    }
    let dir = PathBuf::from(var("OUT_DIR")).join("static-unwinder");
    std::fs::create_dir_all(&dir).expect("create the linker script's directory");
    std::fs::write(dir.join("libgcc_s.so"), "INPUT(-lgcc_eh)\n").expect("write the linker script");
    println!("cargo:rustc-link-search=native={}", dir.display());
}

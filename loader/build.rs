//! Records how this crate is being built (compiler, target, profile, codegen flags), so that a
//! patch library and the program it patches can be compared: a patch library's manifest carries
//! these values as the patch's build of this crate saw them, and the running program has its own.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTC",
        "RUSTC_WRAPPER",
    ] {
        println!("cargo:rerun-if-env-changed={var}");
    }

    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let version = Command::new(&rustc)
        .arg("-V")
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
        .unwrap_or_else(|| format!("unknown ({rustc} -V failed)"));

    let var = |name: &str| env::var(name).unwrap_or_default();
    let profile = format!(
        "{} opt-level={} debuginfo={} debug-assertions={} panic={}",
        var("PROFILE"),
        var("OPT_LEVEL"),
        var("DEBUG"),
        if env::var_os("CARGO_CFG_DEBUG_ASSERTIONS").is_some() {
            "on"
        } else {
            "off"
        },
        var("CARGO_CFG_PANIC"),
    );
    let codegen = var("CARGO_ENCODED_RUSTFLAGS")
        .split('\u{1f}')
        .filter(|flag| !flag.is_empty())
        .collect::<Vec<_>>()
        .join(" ");

    let mut out = String::new();
    for (name, value) in [
        ("RUSTC", version),
        ("TARGET", var("TARGET")),
        ("PROFILE", profile),
        ("CODEGEN", codegen),
    ] {
        // One line each in the manifest: no line breaks inside a value.
        let value = value.replace(['\n', '\r', '\0'], " ");
        let _ = writeln!(out, "pub const {name}: &str = {value:?};");
    }
    let path = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("build.rs");
    fs::write(path, out).expect("OUT_DIR is writable");
}

//! Links the gateway binary with its function order (`deploy/mcp-gateway.order`, written by
//! `bench/order.sh`): the functions a running gateway executes are placed together, so far
//! fewer pages of its code become resident (idle RSS at 10,000 tools: ~8 MiB less).
//!
//! The file names functions by their mangled symbols, whose hashes depend on the profile and
//! the compiler: it applies to `--profile dist` builds by the rustc it was written with (its
//! first line), and does nothing (but cost nothing) elsewhere. The linker must take
//! `--symbol-ordering-file` (lld, rustc's default on x86_64 Linux; mold); a one-line program is
//! linked with the same flags first, and where that fails the binary is linked as usual.
//!
//! Relative relocations are packed (`-z pack-relative-relocs`, DT_RELR: 0.7 MB of relocations
//! the loader reads at every start become a few KB) when the probe, linked so, also runs here:
//! the C library must be glibc ≥ 2.36 (or another that reads DT_RELR). The binary then needs
//! such a C library wherever it runs (an older one refuses to load it, naming
//! `GLIBC_ABI_DT_RELR`). Set `MCP_GATEWAY_NO_ORDER` to skip all of it.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The order file, relative to the package.
const ORDER_FILE: &str = "deploy/mcp-gateway.order";
/// The order file's first line starts so, followed by `rustc --version` of its writer.
const WRITTEN_WITH: &str = "# written with ";

fn main() {
    println!("cargo::rerun-if-changed={ORDER_FILE}");
    println!("cargo::rerun-if-env-changed=MCP_GATEWAY_NO_ORDER");
    if env::var_os("MCP_GATEWAY_NO_ORDER").is_some() || var("PROFILE") != "release" {
        return;
    }
    let order = Path::new(&var("CARGO_MANIFEST_DIR")).join(ORDER_FILE);
    let Ok(text) = fs::read_to_string(&order) else {
        return;
    };
    let flags = [
        format!("-Wl,--symbol-ordering-file={}", order.display()),
        // Functions renamed since the file was written are placed as usual.
        "-Wl,--no-warn-symbol-ordering".to_string(),
    ];
    if !linker_takes(&flags) {
        println!(
            "cargo::warning=the linker does not take --symbol-ordering-file: \
             mcp-gateway is linked without its function order (more of it stays resident)"
        );
        return;
    }
    let rustc = rustc_version();
    let written_with = text
        .lines()
        .next()
        .and_then(|line| line.strip_prefix(WRITTEN_WITH))
        .unwrap_or("an unknown rustc");
    if written_with != rustc && in_dist_profile() {
        println!(
            "cargo::warning={ORDER_FILE} was written with {written_with}, this is {rustc}: \
             symbol names differ, so the function order will not apply (run bench/order.sh)"
        );
    }
    for flag in flags {
        println!("cargo::rustc-link-arg-bin=mcp-gateway={flag}");
    }
    let relr = ["-Wl,-z,pack-relative-relocs".to_string()];
    if var("HOST") == var("TARGET") && linker_takes(&relr) && probe_runs() {
        println!("cargo::rustc-link-arg-bin=mcp-gateway={}", relr[0]);
    }
}

/// Whether the last probe linked runs here.
fn probe_runs() -> bool {
    Command::new(PathBuf::from(var("OUT_DIR")).join("link_probe"))
        .output()
        .is_ok_and(|output| output.status.success())
}

/// An environment variable cargo sets for build scripts, or "".
fn var(name: &str) -> String {
    env::var(name).unwrap_or_default()
}

/// Whether this is a `--profile dist` build (its output directory is `target/dist/...`).
fn in_dist_profile() -> bool {
    Path::new(&var("OUT_DIR"))
        .ancestors()
        .any(|dir| dir.file_name().is_some_and(|name| name == "dist"))
}

/// `rustc --version` of the compiler building this, e.g. "rustc 1.95.0 (59807616e 2026-04-14)".
fn rustc_version() -> String {
    Command::new(var("RUSTC"))
        .arg("--version")
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_string())
        .unwrap_or_default()
}

/// Whether a one-line program links for this target, with this build's linker settings, when
/// `flags` are added.
fn linker_takes(flags: &[String]) -> bool {
    let out = PathBuf::from(var("OUT_DIR"));
    let source = out.join("link_probe.rs");
    if fs::write(&source, "fn main() {}\n").is_err() {
        return false;
    }
    let mut probe = Command::new(var("RUSTC"));
    probe
        .arg("--crate-name=link_probe")
        .arg("--edition=2021")
        .arg("--target")
        .arg(var("TARGET"))
        .arg("-o")
        .arg(out.join("link_probe"))
        .arg(&source);
    // The rustflags and linker cargo gives the real build.
    for flag in var("CARGO_ENCODED_RUSTFLAGS")
        .split('\x1f')
        .filter(|f| !f.is_empty())
    {
        probe.arg(flag);
    }
    if let Ok(linker) = env::var("RUSTC_LINKER") {
        probe.arg(format!("-Clinker={linker}"));
    }
    for flag in flags {
        probe.arg(format!("-Clink-arg={flag}"));
    }
    probe.output().is_ok_and(|output| output.status.success())
}

//! Links the gateway binary with its function order (`deploy/mcp-gateway.order`, written by
//! `bench/order.sh`): the functions a running gateway executes are placed together, so far
//! fewer pages of its code become resident (idle RSS at 10,000 tools: ~8 MiB less).
//!
//! Only where the linker is known to take `--symbol-ordering-file`: optimised builds for
//! x86_64 Linux (GNU) with rustc's bundled lld, the default linker there since Rust 1.90, and
//! no linker chosen by configuration. Anywhere else the binary is linked as usual; so is it
//! with `MCP_GATEWAY_NO_ORDER` set.

use std::env;
use std::path::Path;
use std::process::Command;

/// The order file, relative to the package.
const ORDER_FILE: &str = "deploy/mcp-gateway.order";

fn main() {
    println!("cargo::rerun-if-changed={ORDER_FILE}");
    println!("cargo::rerun-if-env-changed=MCP_GATEWAY_NO_ORDER");
    let Some(order) = order_file() else {
        return;
    };
    println!(
        "cargo::rustc-link-arg-bin=mcp-gateway=-Wl,--symbol-ordering-file={}",
        order.display()
    );
    // Functions renamed since the file was written are left where the linker puts them.
    println!("cargo::rustc-link-arg-bin=mcp-gateway=-Wl,--no-warn-symbol-ordering");
}

/// The order file's absolute path, when this build should use it.
fn order_file() -> Option<std::path::PathBuf> {
    let var = |name: &str| env::var(name).unwrap_or_default();
    if env::var_os("MCP_GATEWAY_NO_ORDER").is_some()
        || var("PROFILE") != "release"
        || var("TARGET") != "x86_64-unknown-linux-gnu"
        || env::var_os("RUSTC_LINKER").is_some()
    {
        return None;
    }
    let flags = var("CARGO_ENCODED_RUSTFLAGS");
    if ["linker", "link-self-contained", "fuse-ld"]
        .iter()
        .any(|flag| flags.contains(flag))
    {
        return None;
    }
    if !bundled_lld_is_default(&var("RUSTC")) {
        return None;
    }
    let path = Path::new(&var("CARGO_MANIFEST_DIR")).join(ORDER_FILE);
    path.is_file().then_some(path)
}

/// Whether `rustc` is 1.90 or later, which links x86_64 Linux binaries with its own lld.
fn bundled_lld_is_default(rustc: &str) -> bool {
    let Ok(output) = Command::new(rustc).arg("--version").output() else {
        return false;
    };
    let version = String::from_utf8_lossy(&output.stdout);
    // "rustc 1.95.0 (59807616e 2026-04-14)"
    let mut numbers = version
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .split('.')
        .map(|part| part.parse::<u32>().unwrap_or(0));
    let (major, minor) = (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0));
    (major, minor) >= (1, 90)
}

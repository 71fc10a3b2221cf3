#!/usr/bin/env bash
# The gateway benchmark in one command: builds the release binaries (the gateway, the test
# upstream, the bench) and runs the bench; arguments go to the bench (`--help` lists them).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --bins
exec target/release/bench "$@"

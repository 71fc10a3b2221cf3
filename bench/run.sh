#!/usr/bin/env bash
# The gateway benchmark in one command: builds the binaries as deployed (the `dist` profile:
# release + fat LTO; the gateway, the test upstream, the bench) and runs the bench; arguments go
# to the bench (`--help` lists them).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --profile dist --locked --bins
exec target/dist/bench "$@"

#!/usr/bin/env bash
# The benchmark side by side with fastmcp-gateway (the Python system mcp-gateway replaces):
# installs the newest fastmcp-gateway from PyPI into target/fastmcp-venv, then runs the bench
# with it as a third target, in front of the same upstream, driven by the same client.
# Needs python3 with venv (Debian: apt-get install python3-venv). Arguments go to the bench.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=target/fastmcp-venv
if [ ! -x "$venv/bin/fastmcp-gateway" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --upgrade fastmcp-gateway
echo "fastmcp-gateway $("$venv/bin/pip" show fastmcp-gateway | sed -n 's/^Version: //p')"
exec bench/run.sh --fastmcp-gateway "$venv/bin/fastmcp-gateway" "$@"

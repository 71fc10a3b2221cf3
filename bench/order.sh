#!/usr/bin/env bash
# Regenerates deploy/mcp-gateway.order, the function order the gateway binary is linked with
# (see build.rs). Runs the dist build under valgrind's callgrind in front of the test upstream
# with 10,000 tools, through start-up, discovery, schema lookups, routed calls, a refresh, a
# reload and a graceful stop; writes every function of the binary that ran: those that ran
# before the gateway was ready first, then the others, each part most executed first. Linked in
# that order, the code a running gateway uses sits together (and the code an idle one has used
# sits at the front) instead of being spread over the whole text section, so far fewer pages of
# the binary become resident.
# The file names mangled symbols, whose hashes depend on the profile and the compiler: it
# applies to `--profile dist` builds by the rustc that wrote it. Run this after upgrading rustc
# or dependencies, or after changes that add or rename many functions (CI's
# scripts/check-order fails when under 80 % of the file is found); a stale file only costs
# memory, never correctness. Needs valgrind (Debian: apt-get install valgrind) and
# curl. Takes about two minutes after the build.
set -euo pipefail
cd "$(dirname "$0")/.."
tools=${TOOLS:-10000}
cargo build --profile dist --locked --bin mcp-gateway --bin mcp-gateway-test-upstream
work=$(mktemp -d)
upstream_pid=""
gateway_pid=""
cleanup() {
    [ -n "$gateway_pid" ] && kill "$gateway_pid" 2>/dev/null
    [ -n "$upstream_pid" ] && kill "$upstream_pid" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

# Waits (≤ 60 s) until FILE contains PATTERN.
wait_for() {
    for _ in $(seq 600); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "timed out waiting for '$2' in $1" >&2
    return 1
}

mkfifo "$work/stdin"
target/dist/mcp-gateway-test-upstream --http 127.0.0.1:0 --name bench --synthetic "$tools" \
    <"$work/stdin" >"$work/upstream.out" 2>"$work/upstream.err" &
upstream_pid=$!
exec 3>"$work/stdin" # holds the upstream's stdin open: it exits when stdin closes
wait_for "$work/upstream.out" http
url=$(grep -o 'http[^ ]*' "$work/upstream.out" | head -1)

mkdir "$work/conf"
printf '[server]\nport = 0\n[upstreams.bench]\nurl = "%s"\n' "$url" \
    >"$work/conf/gateway.toml"
valgrind --tool=callgrind --demangle=no --callgrind-out-file="$work/callgrind.out" \
    target/dist/mcp-gateway run --config "$work/conf/gateway.toml" >"$work/gateway.log" 2>&1 &
gateway_pid=$!
wait_for "$work/gateway.log" listening
addr=$(grep -o '127.0.0.1:[0-9]*' "$work/gateway.log" | head -1)
ready=no
for _ in $(seq 600); do
    curl -sf "http://$addr/readyz" >/dev/null && ready=yes && break
    sleep 0.1
done
if [ "$ready" != yes ]; then
    echo "the gateway did not become ready in 60 s (log: $work/gateway.log)" >&2
    trap - EXIT
    exit 1
fi
sleep 1
callgrind_control --dump=ready "$gateway_pid" >/dev/null 2>&1 # start-up, as part 1

headers=(-H 'content-type: application/json' -H 'accept: application/json, text/event-stream')
session=$(curl -sf -D - -o /dev/null "${headers[@]}" "http://$addr/mcp" -d \
    '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"order","version":"1"}}}' |
    tr -d '\r' | sed -n 's/^mcp-session-id: //Ip')
headers+=(-H "mcp-session-id: $session" -H 'mcp-protocol-version: 2025-11-25')
post() { curl -sf "${headers[@]}" "http://$addr/mcp" -d "$1" >/dev/null; }
call() {
    post "{\"jsonrpc\":\"2.0\",\"id\":$1,\"method\":\"tools/call\",\"params\":{\"name\":\"$2\",\"arguments\":$3}}"
}
post '{"jsonrpc":"2.0","method":"notifications/initialized"}'
post '{"jsonrpc":"2.0","id":1,"method":"tools/list"}'
call 2 discover_tools '{}'
call 3 discover_tools '{"domain":"bench"}'
call 4 discover_tools '{"query":"search contacts by email"}'
call 5 discover_tools '{"query":"export invoices","format":"signatures"}'
call 6 get_tool_schema '{"tool_name":"contacts_search"}'
call 7 get_tool_schema '{"tool_name":"Contacts-Serch"}'
for i in $(seq 10 209); do
    call "$i" execute_tool '{"tool_name":"echo","arguments":{"message":"hi"}}'
done
call 300 execute_tool '{"tool_name":"echo","arguments":{"message":7}}'
call 301 execute_tool '{"tool_name":"no_such_tool"}'
call 302 refresh_registry '{}'
kill -HUP "$gateway_pid"
sleep 2
curl -sf -X DELETE "${headers[@]}" "http://$addr/mcp" >/dev/null || true
kill -TERM "$gateway_pid"
wait "$gateway_pid" || true
gateway_pid=""

# The binary's own functions in a profile part, most instructions executed first.
functions() {
    callgrind_annotate --inclusive=no --threshold=100 "$1" |
        sed -n 's/^ *[0-9,]* ([ 0-9.]*%)  [^:]*:\([^ ]*\) \[.*\/mcp-gateway\]$/\1/p'
}
# In part order (the last part is the file without a number).
parts=$(grep -H '^part: ' "$work"/callgrind.out* | sort -t' ' -k2 -n | cut -d: -f1)
for part in $parts; do functions "$part"; done | awk '!seen[$0]++' >"$work/order"
count=$(wc -l <"$work/order")
if [ "$count" -lt 1000 ]; then
    echo "only $count functions traced: is the run complete? (log: $work/gateway.log)" >&2
    trap - EXIT
    exit 1
fi
# Symbol hashes depend on the compiler: build.rs warns when another one builds with this file.
{
    echo "# written with $(rustc --version)"
    cat "$work/order"
} >deploy/mcp-gateway.order
echo "deploy/mcp-gateway.order: $count functions"

#!/usr/bin/env bash
# How long each proxy holds a call on its path, from its own system calls: the gateway (and nginx,
# when installed) in front of the test upstream, each driven with `wrk -t1 -c1` (sequential
# calls on one keep-alive connection) while `perf` records the proxy's socket calls. Per call
# the proxy reads the client's request and sends it on to the upstream (the inbound leg: first
# read of the request to the write upstream), then reads the upstream's answer and sends it back
# (the outbound leg: from the read each write back follows to that write, summed over them).
# Only wrk's connection and the proxy's upstream connections count (bench/onpath.py pairs
# them). That is the proxy's own work on the call's path; wake-ups and the loopback hops are
# not in it, which makes it far steadier than end-to-end latency on a noisy machine. Work done
# after the answer is written (the gateway's log line) is not on the path, unless the client's
# next request comes before it ends: the script also prints how long the proxy stays busy after
# each answer, and how often the next request came first (and waited).
#
# Usage: bench/onpath.sh [--shared] [SECONDS]   (default 5 seconds a proxy)
#   By default every proxy runs alone on one CPU, wrk, the upstream and perf on another, so
#   nothing else runs on the proxy's core; --shared lets the scheduler place everything, as the
#   bench's first sequential rows do (each proxy then also pays for caches the others evicted).
# Needs: the dist build (bench/run.sh builds it; BIN=dir picks another), wrk, perf (with
# tracepoints: run as root), curl, python3, taskset; nginx is used when found. Fails when an
# answer is not the echo. Prints each leg's p50 (p25, p75) and the two legs' sum per call.
set -euo pipefail
cd "$(dirname "$0")/.."
shared=""
if [ "${1:-}" = "--shared" ]; then
    shared=1
    shift
fi
seconds=${1:-5}
# curl's requests go straight to loopback whatever proxy the caller's shell names.
export NO_PROXY=127.0.0.1,::1,localhost no_proxy=127.0.0.1,::1,localhost
bin=${BIN:-target/dist}
for tool in wrk perf curl python3 taskset; do
    command -v "$tool" >/dev/null || { echo "onpath: needs $tool" >&2; exit 1; }
done
[ -x "$bin/mcp-gateway" ] || { echo "onpath: build first: cargo build --profile dist --bins" >&2; exit 1; }
nginx_bin=$(command -v nginx || true)
[ -z "$nginx_bin" ] && [ -x /usr/sbin/nginx ] && nginx_bin=/usr/sbin/nginx
client_cpus=""
proxy_cpus=""
layout="shared CPUs"
if [ -z "$shared" ]; then
    # The first two CPUs this process may use: wrk and the upstream on one, the proxy on the other.
    if read -r client_cpu proxy_cpu < <(python3 bench/onpath.py cpus 2>/dev/null); then
        client_cpus="taskset -c $client_cpu"
        proxy_cpus="taskset -c $proxy_cpu"
        layout="each proxy alone on CPU $proxy_cpu, wrk and upstream on CPU $client_cpu"
    else
        echo "onpath: one CPU only: shared layout" >&2
    fi
fi

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# Waits (≤ 30 s) until FILE contains PATTERN.
wait_for() {
    for _ in $(seq 300); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "onpath: timed out waiting for '$2' in $1" >&2
    exit 1
}

# The upstream: stdin held open (it exits when stdin closes).
mkfifo "$work/hold"
$client_cpus "$bin/mcp-gateway-test-upstream" --http 127.0.0.1:0 --name bench --synthetic 100 \
    <"$work/hold" >"$work/upstream.out" 2>&1 &
pids+=($!)
exec 3>"$work/hold"
wait_for "$work/upstream.out" '^listening '
upstream_url=$(sed -n 's/^listening //p' "$work/upstream.out")
upstream_hostport=${upstream_url#http://}
upstream_hostport=${upstream_hostport%%/*}
upstream_port=${upstream_hostport##*:}

mkdir "$work/config" "$work/log"
printf '[server]\nport = 0\nmax_concurrency = 1024\n[upstreams.bench]\nurl = "%s"\n' \
    "$upstream_url" >"$work/config/gateway.toml"
# As the bench starts it: none of the caller's gateway, OpenTelemetry, log or proxy settings.
unset_vars=()
for var in $(compgen -e); do
    case $var in
    GATEWAY_* | OTEL_* | RUST_LOG | LOG_LEVEL | [Hh][Tt][Tt][Pp]_[Pp][Rr][Oo][Xx][Yy] | \
        [Hh][Tt][Tt][Pp][Ss]_[Pp][Rr][Oo][Xx][Yy] | [Aa][Ll][Ll]_[Pp][Rr][Oo][Xx][Yy])
        unset_vars+=(-u "$var") ;;
    esac
done
env "${unset_vars[@]}" $proxy_cpus "$bin/mcp-gateway" run --config "$work/config/gateway.toml" \
    2>"$work/log/gateway.log" &
gateway_pid=$!
pids+=("$gateway_pid")
wait_for "$work/log/gateway.log" 'addr='
gateway_addr=$(grep -o 'addr=[^ ]*' "$work/log/gateway.log" | head -1 | cut -d= -f2)
for _ in $(seq 300); do
    curl -sf --max-time 2 "http://$gateway_addr/readyz" >/dev/null && break
    sleep 0.1
done

targets=("gateway http://$gateway_addr/mcp $gateway_pid execute ${gateway_addr##*:}")
if [ -n "$nginx_bin" ]; then
    nginx_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    mkdir "$work/nginx"
    cat >"$work/nginx/nginx.conf" <<EOF
daemon off; master_process off; error_log $work/nginx/error.log warn; pid $work/nginx/nginx.pid;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work/nginx/b; proxy_temp_path $work/nginx/p; fastcgi_temp_path $work/nginx/f;
  uwsgi_temp_path $work/nginx/u; scgi_temp_path $work/nginx/s;
  upstream up { server $upstream_hostport; keepalive 64; }
  server {
    listen 127.0.0.1:$nginx_port;
    location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host \$host; proxy_buffering off; }
  }
}
EOF
    $proxy_cpus "$nginx_bin" -p "$work/nginx" -c "$work/nginx/nginx.conf" &
    nginx_pid=$!
    pids+=("$nginx_pid")
    for _ in $(seq 100); do
        curl -s --max-time 2 -o /dev/null "http://127.0.0.1:$nginx_port/" && break
        sleep 0.1
    done
    targets+=("nginx http://127.0.0.1:$nginx_port/mcp $nginx_pid direct $nginx_port")
fi

# Opens an MCP session at URL; prints its id.
open_session() {
    local id
    id=$(curl -s --max-time 10 -D - -o /dev/null -H 'Content-Type: application/json' \
        -H 'Accept: application/json, text/event-stream' \
        -d '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"onpath","version":"1"}}}' \
        "$1" | tr -d '\r' | sed -n 's/^[Mm]cp-[Ss]ession-[Ii]d: //p')
    [ -n "$id" ] || { echo "onpath: no session from $1" >&2; exit 1; }
    curl -s --max-time 10 -o /dev/null -H 'Content-Type: application/json' \
        -H 'Accept: application/json, text/event-stream' -H "Mcp-Session-Id: $id" \
        -H 'MCP-Protocol-Version: 2025-11-25' \
        -d '{"jsonrpc":"2.0","method":"notifications/initialized"}' "$1"
    echo "$id"
}

# The wrk script of one target: its session and call; every answer must carry "hello".
write_wrk_script() {
    local body
    if [ "$3" = execute ]; then
        body='{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"execute_tool","arguments":{"tool_name":"echo","arguments":{"message":"hello"}}}}'
    else
        body='{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hello"}}}'
    fi
    cat >"$1" <<EOF
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["MCP-Protocol-Version"] = "2025-11-25"
wrk.headers["Mcp-Session-Id"] = "$2"
wrk.body = '$body'
wrong = 0
response = function(status, headers, body)
  if status ~= 200 or not string.find(body, '"hello"', 1, true) then wrong = wrong + 1 end
end
-- Each wrk thread has a Lua state of its own; done() runs in the main one and sums theirs.
threads = {}
setup = function(thread) table.insert(threads, thread) end
done = function(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do total = total + thread:get("wrong") end
  io.write(string.format("wrong answers: %d\n", total))
end
EOF
}

echo "# on-path time per call ($(date -u +%FT%TZ); $(nproc) CPUs; $layout)"
for target in "${targets[@]}"; do
    read -r name url pid call port <<<"$target"
    session=$(open_session "$url")
    write_wrk_script "$work/$name.lua" "$session" "$call"
    $client_cpus wrk -t1 -c1 -d1s -s "$work/$name.lua" "$url" >/dev/null # warm-up
    # perf on the client's CPU: draining its buffers must not take the proxy's.
    $client_cpus perf record -q -o "$work/$name.data" -p "$pid" \
        -e syscalls:sys_enter_recvfrom,syscalls:sys_exit_recvfrom,syscalls:sys_enter_read,syscalls:sys_exit_read \
        -e syscalls:sys_enter_writev,syscalls:sys_enter_write,syscalls:sys_enter_sendto \
        -e sched:sched_switch \
        2>"$work/$name.perf.err" &
    perf_pid=$!
    pids+=("$perf_pid")
    sleep 0.5
    if ! kill -0 "$perf_pid" 2>/dev/null; then
        echo "onpath: perf could not trace $name:" >&2
        cat "$work/$name.perf.err" >&2
        exit 1
    fi
    $client_cpus wrk -t1 -c1 -d"${seconds}s" --latency -s "$work/$name.lua" "$url" >"$work/$name.wrk" &
    wrk_pid=$!
    pids+=("$wrk_pid")
    sleep 0.5
    # The proxy's ends of wrk's connection and of its upstream connections, while they are open.
    read -r client_fd upstream_fds < <(python3 bench/onpath.py sockets "$pid" "$port" "$upstream_port")
    wait "$wrk_pid"
    kill -INT "$perf_pid"
    wait "$perf_pid" || true
    out=$(cat "$work/$name.wrk")
    calls=$(awk '/requests in/ {print $1}' <<<"$out")
    p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    wrong=$(awk '/^wrong answers:/ {print $3}' <<<"$out")
    echo
    echo "## $name: $calls calls, wrk p50 $p50, p99 $p99, wrong answers ${wrong:-?}"
    if [ "${wrong:-?}" != 0 ] || [ "${calls:-0}" = 0 ] || grep -q "Non-2xx" <<<"$out"; then
        echo "onpath: $name did not answer every call with the echo" >&2
        exit 1
    fi
    if ! perf script -i "$work/$name.data" -F tid,time,event,trace 2>"$work/$name.script.err" |
        python3 bench/onpath.py legs "$client_fd" "$upstream_fds" >"$work/$name.legs"; then
        cat "$work/$name.script.err" >&2
        exit 1
    fi
    cat "$work/$name.legs"
    grep -i "lost" "$work/$name.script.err" >&2 || true
    traced=$(sed -n 's/.* over \([0-9]*\) calls.*/\1/p' "$work/$name.legs")
    if [ "$((${traced:-0} * 10))" -lt "$((calls * 9))" ]; then
        echo "onpath: only ${traced:-0} of $name's $calls calls were traced whole" >&2
    fi
done

#!/usr/bin/env python3
"""The helpers of bench/onpath.sh.

  onpath.py cpus                          the first two CPUs this process may use
  onpath.py sockets PID LISTEN UPSTREAM   PID's end of the connection accepted on port LISTEN,
                                          then its connections to port UPSTREAM (comma-separated)
  onpath.py legs CLIENT UPSTREAMS         per-call times from `perf script -F tid,time,event,trace`
                                          on stdin (the proxy's socket calls and its threads'
                                          switches off the CPU)

A call, on the proxy's thread that serves it: the reads that bring the client's request, the
write that sends it upstream (the inbound leg: first request read to that write), the reads
that bring the upstream's answer and the writes that send it back (the outbound leg). An
answer may come in pieces (a priming SSE event, the answer's event, the end of the stream),
and a proxy may wait for the piece it needs or forward each one: the outbound leg is the sum,
over the writes back, of the time from the last answer read before that write (or, with none
since the previous write back, from that write) to that write, so waiting for the upstream's
next piece is not counted. Reads and writes on any other descriptor (the log, wake-up
eventfds, other connections) are not part of a call.

After the answer: how long the thread that wrote it back stays busy (from its last write back
until it goes to sleep), and in how many calls the client's next request was read before it
did (and then how long after the answer it was read: the busy time was at least that). Work
a proxy does after answering (the gateway's log line, reading the end of the upstream's body)
is off the call's path only if it ends before the next request comes; a request that arrives
during it waits.
"""

import os
import re
import statistics
import sys
import time

EVENT = re.compile(r"\s*(\d+)\s+([\d.]+):\s+syscalls:(sys_\w+):\s*(.*)")
# A thread switched off its CPU because it waits (state S or D), not because it was preempted.
SLEEP = re.compile(r"\s*(\d+)\s+([\d.]+):\s+sched:sched_switch:.*\bprev_state=[SD]\b")
FD = re.compile(r"fd: (0x[0-9a-f]+)")
READS = ("recvfrom", "read")
WRITES = ("writev", "write", "sendto")
ESTABLISHED = "01"


def cpus():
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2:
        sys.exit("one CPU only")
    print(allowed[0], allowed[1])


def sockets(pid, listen, upstream):
    """The client connection's descriptor and the upstream connections' ones, looked for a few
    times over two seconds (a connection may be between calls, or not yet open)."""
    for _ in range(20):
        found = find_sockets(pid, listen, upstream)
        if found[0] is not None and found[1]:
            print(found[0], ",".join(found[1]))
            return
        time.sleep(0.1)
    sys.exit("the client's or the upstream's connection was not found: %s" % (found,))


def find_sockets(pid, listen, upstream):
    client_inodes, upstream_inodes = set(), set()
    for table in ("tcp", "tcp6"):
        path = "/proc/%s/net/%s" % (pid, table)
        if not os.path.exists(path):  # IPv6 switched off
            continue
        with open(path) as rows:
            for row in list(rows)[1:]:
                fields = row.split()
                local = int(fields[1].rsplit(":", 1)[1], 16)
                remote = int(fields[2].rsplit(":", 1)[1], 16)
                if fields[3] != ESTABLISHED:
                    continue
                if local == listen:
                    client_inodes.add(fields[9])
                elif remote == upstream:
                    upstream_inodes.add(fields[9])
    client, upstreams = None, []
    for fd in sorted(os.listdir("/proc/%s/fd" % pid), key=int):
        try:
            link = os.readlink("/proc/%s/fd/%s" % (pid, fd))
        except OSError:
            continue
        inode = link[len("socket:["):-1] if link.startswith("socket:[") else None
        if inode in client_inodes and client is None:
            client = fd
        elif inode in upstream_inodes:
            upstreams.append(fd)
    return client, upstreams


class Call:
    """One call's times, in seconds. wrk -c1 makes one call at a time, whichever of the
    proxy's threads serves its parts."""

    def __init__(self, start):
        self.request_read = start
        self.sent_upstream = None
        self.answered = False  # an answer read from upstream
        # The last answer read not yet followed by a write back.
        self.answer_read = None
        self.last_write_back = None
        self.back_thread = None  # the thread of the last write back
        self.asleep = None  # when that thread then went to sleep
        self.next_read = None  # when the next call's request was read
        self.outbound = 0.0

    def complete(self):
        return self.sent_upstream is not None and self.answered and self.last_write_back is not None

    def over(self):
        """Whether a request read now starts the next call."""
        return self.sent_upstream is not None or self.last_write_back is not None

    def inbound(self):
        return self.sent_upstream - self.request_read

    def write_back(self, at):
        """A write to the client: from the answer read it follows, or from the previous write
        back (headers and body, or the end of a chunked body, written one after the other)."""
        since = self.answer_read if self.answer_read is not None else self.last_write_back
        if since is not None:
            self.outbound += at - since
        self.answer_read = None
        self.last_write_back = at
        self.asleep = None

    def sleep(self, tid, at):
        """A thread of the proxy went to sleep: the first time the one that wrote the answer
        back does so after its last write back ends the work that follows the answer."""
        if self.asleep is None and tid == self.back_thread and self.last_write_back is not None:
            self.asleep = at


def legs(client, upstreams):
    call = None
    reading = {}  # thread -> descriptor of the read in progress
    done = []
    lost = 0
    for text in sys.stdin:
        match = EVENT.match(text)
        if not match:
            sleep = SLEEP.match(text)
            if sleep and call is not None:
                call.sleep(sleep.group(1), float(sleep.group(2)))
            continue
        tid, at, event, rest = match.group(1), float(match.group(2)), match.group(3), match.group(4)
        kind, _, call_name = event.partition("_")[2].partition("_")
        fd_match = FD.search(rest)
        if kind == "enter" and call_name in READS:
            reading[tid] = int(fd_match.group(1), 16)
            continue
        if kind == "exit" and call_name in READS:
            fd = reading.pop(tid, None)
            got = int(rest.split()[0], 16)
            if fd is None or not 0 < got < 2**63:  # nothing read, or an error (EAGAIN)
                continue
            if fd == client:
                if call is not None and call.over():
                    call.next_read = at
                    if call.complete():
                        done.append(call)
                    else:
                        lost += 1
                    call = None
                if call is None:
                    call = Call(at)
            elif fd in upstreams and call is not None and call.sent_upstream is not None:
                call.answered = True
                call.answer_read = at
            continue
        if kind == "enter" and call_name in WRITES and fd_match and call is not None:
            fd = int(fd_match.group(1), 16)
            if fd in upstreams and call.sent_upstream is None:
                call.sent_upstream = at
            elif fd == client:
                call.write_back(at)
                call.back_thread = tid
    if call is not None and call.complete():
        done.append(call)
    if not done:
        sys.exit("no whole call traced (perf needs tracepoints: run as root)")
    inbound = sorted(c.inbound() * 1e6 for c in done)
    outbound = sorted(c.outbound * 1e6 for c in done)
    both = sorted((c.inbound() + c.outbound) * 1e6 for c in done)
    n = len(done)
    for name, times in (
        ("inbound leg (request read -> sent upstream)", inbound),
        ("outbound leg (answer read -> sent back, each piece)", outbound),
    ):
        print("%s: p50 %.0f µs (p25 %.0f, p75 %.0f)"
              % (name, statistics.median(times), times[n // 4], times[3 * n // 4]))
    print("on the path, both legs: %.0f µs a call (p50; p25 %.0f, p75 %.0f) over %d calls, %d incomplete"
          % (statistics.median(both), both[n // 4], both[3 * n // 4], n, lost))
    # The last call has no next request: it tells nothing about waiting.
    followed = done[:-1]
    after = sorted((c.asleep - c.last_write_back) * 1e6 for c in followed if c.asleep is not None)
    # A call whose thread was still busy when the next request came: busy at least until then.
    first = sorted((c.next_read - c.last_write_back) * 1e6 for c in followed if c.asleep is None)
    came_first = ("the next request came first in %d of %d calls (%.0f %%%s)"
                  % (len(first), len(followed), 100.0 * len(first) / max(len(followed), 1),
                     ", read %.0f µs after the answer, p50" % statistics.median(first)
                     if first else ""))
    if after:
        print("after the answer: busy %.0f µs until asleep (p50 of the calls that slept first; "
              "p25 %.0f, p75 %.0f); %s"
              % (statistics.median(after), after[len(after) // 4], after[3 * len(after) // 4],
                 came_first))
    elif followed:
        print("after the answer: %s" % came_first)


def main(args):
    if args[:1] == ["cpus"]:
        cpus()
    elif args[:1] == ["sockets"] and len(args) == 4:
        sockets(args[1], int(args[2]), int(args[3]))
    elif args[:1] == ["legs"] and len(args) == 3:
        legs(int(args[1]), {int(fd) for fd in args[2].split(",")})
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])

#!/usr/bin/env python3
"""Wait until a relaying server's queue is empty, for bench/relay.sh.

Usage: wait-drained.py SYSTEM LOG COUNT TIMEOUT_SECONDS AFTER_PID QUEUE_DIR [QUEUE_DIR ...]

SYSTEM is qgate or postfix; LOG is its log (qgate's JSON lines, Postfix's maillog).
It is started together with the load and first waits for process AFTER_PID (the load)
to exit (0: do not wait), so that no interpreter start-up lies between the end of the
load and the first look at the queue. Then, every 10 ms, it checks whether the
QUEUE_DIRs (searched recursively) hold no file any more; the moment they do not is the
end of the end-to-end time. Meanwhile it reads what was added to LOG and gives up at
once if a delivery was deferred or failed (a retry would come minutes later), or if a
Postfix daemon logged a fatal error. Once the queue is empty it waits (at most 30 s)
until LOG shows COUNT deliveries, so that the log is complete before the server is
stopped and the log is read.

Prints one JSON object: {"load_ended_at": epoch seconds, "drained_at": epoch seconds,
"delivered_logged": n}. Exit status 0; 1 on timeout (TIMEOUT_SECONDS after the load);
2 if a delivery went wrong (the reason on stderr and in "error").
"""
import json
import os
import re
import select
import sys
import time

INTERVAL = 0.01
LOG_GRACE = 30.0

PATTERNS = {
    # delivered: counted; bad: stop at once
    "qgate": (
        re.compile(rb'"event":"delivery"[^\n]*"result":"delivered"'),
        re.compile(rb'"event":"delivery"[^\n]*"result":"(?:deferred|failed)"|"event":"bounce"'),
    ),
    "postfix": (
        re.compile(rb"/smtp\[\d+\]: [0-9A-Za-z]+: to=<[^\n]*, status=sent "),
        re.compile(rb", status=(?:deferred|bounced|expired) |: (?:fatal|panic): "),
    ),
}


def has_file(path):
    """True if PATH or a directory below it holds anything that is not a directory."""
    try:
        with os.scandir(path) as it:
            for entry in it:
                if entry.is_dir(follow_symlinks=False):
                    if has_file(entry.path):
                        return True
                else:
                    return True
    except FileNotFoundError:
        return False
    return False


class LogTail:
    def __init__(self, path, good, bad):
        self.path, self.good, self.bad = path, good, bad
        self.offset, self.rest, self.delivered, self.problem = 0, b"", 0, None

    def poll(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return
        if not data:
            return
        self.offset += len(data)
        data = self.rest + data
        cut = data.rfind(b"\n") + 1  # an incomplete last line waits for the next read
        chunk, self.rest = data[:cut], data[cut:]
        self.delivered += len(self.good.findall(chunk))
        if self.problem is None:
            m = self.bad.search(chunk)
            if m:
                start = chunk.rfind(b"\n", 0, m.start()) + 1
                end = chunk.find(b"\n", m.end())
                self.problem = chunk[start:end].decode("utf-8", "replace")[:400]


def wait_for_exit(pid, every):
    """Return as soon as process PID has exited (a pidfd wakes us; else poll /proc);
    call every() ten times a second meanwhile."""
    if pid <= 0:
        return
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        fd = None
    try:
        while True:
            if fd is not None:
                if select.select([fd], [], [], 0.1)[0]:
                    return
            else:
                for _ in range(50):
                    if not os.path.exists(f"/proc/{pid}") or is_zombie(pid):
                        return
                    time.sleep(0.002)
            every()
    finally:
        if fd is not None:
            os.close(fd)


def is_zombie(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def main():
    if len(sys.argv) < 7 or sys.argv[1] not in PATTERNS:
        sys.stderr.write(__doc__)
        sys.exit(2)
    system, log, count, limit = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    after, dirs = int(sys.argv[5]), sys.argv[6:]
    tail = LogTail(log, *PATTERNS[system])
    wait_for_exit(after, tail.poll)  # reading the log meanwhile keeps each read short
    t0 = time.time()
    result = {"load_ended_at": round(t0, 6), "drained_at": None, "delivered_logged": 0}
    status = 0
    last_log = 0.0
    while True:
        now = time.time()
        if not any(has_file(d) for d in dirs):
            result["drained_at"] = round(now, 6)  # empty at the latest when this look began
            break
        if now - last_log >= 0.1:  # the log is read ten times a second, the queue 100
            tail.poll()
            last_log = now
        if tail.problem:
            result["error"] = f"delivery problem: {tail.problem}"
            status = 2
            break
        if now - t0 >= limit:
            result["error"] = f"queue not empty after {limit:g}s"
            status = 1
            break
        time.sleep(INTERVAL)

    if status == 0:
        deadline = time.time() + LOG_GRACE
        while True:
            tail.poll()
            if tail.problem:
                result["error"] = f"delivery problem: {tail.problem}"
                status = 2
                break
            if tail.delivered >= count or time.time() >= deadline:
                break
            time.sleep(0.05)
    result["delivered_logged"] = tail.delivered
    if status:
        sys.stderr.write(f"wait-drained: {result['error']}\n")
    print(json.dumps(result, separators=(",", ":")))
    sys.exit(status)


if __name__ == "__main__":
    main()

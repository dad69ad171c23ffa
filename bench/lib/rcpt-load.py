#!/usr/bin/env python3
"""RCPT-time lookup load: SESSIONS concurrent SMTP sessions ask COUNT RCPTs in all.

  rcpt-load.py --port N --count COUNT --sessions S --users U

Each session sends EHLO and MAIL, then RCPTs for addresses drawn at random
(fixed seed) from user0001..userU@example.test (known to the directory) and
as many ghostNNNN@example.test (unknown), half and half, with RSET and a new
MAIL every 50 RCPTs (max_recipients is 100). Prints one JSON object:
{"rcpts", "seconds", "per_second", "accepted", "rejected", "tempfailed"}.
"""
import argparse
import json
import random
import smtplib
import threading
import time


def session(port, addresses, out, lock):
    s = smtplib.SMTP("127.0.0.1", port, local_hostname="bench.client", timeout=60)
    s.ehlo()
    counts = {"accepted": 0, "rejected": 0, "tempfailed": 0}
    for i, address in enumerate(addresses):
        if i % 50 == 0:
            if i:
                s.rset()
            s.mail("bench@far.test")
        code, _ = s.rcpt(address)
        key = "accepted" if code == 250 else "tempfailed" if code // 100 == 4 else "rejected"
        counts[key] += 1
    s.quit()
    with lock:
        for k, v in counts.items():
            out[k] += v


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--count", type=int, default=20000)
    p.add_argument("--sessions", type=int, default=10)
    p.add_argument("--users", type=int, default=1000)
    a = p.parse_args()
    rng = random.Random(12)
    pool = [f"user{n:04d}@example.test" for n in range(1, a.users + 1)]
    pool += [f"ghost{n:04d}@example.test" for n in range(1, a.users + 1)]
    addresses = [rng.choice(pool) for _ in range(a.count)]
    per = [addresses[i :: a.sessions] for i in range(a.sessions)]
    out = {"accepted": 0, "rejected": 0, "tempfailed": 0}
    lock = threading.Lock()
    threads = [threading.Thread(target=session, args=(a.port, chunk, out, lock)) for chunk in per]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.monotonic() - t0
    print(json.dumps({"rcpts": a.count, "seconds": round(seconds, 3), "per_second": round(a.count / seconds), **out}))


if __name__ == "__main__":
    main()

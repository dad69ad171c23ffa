#!/usr/bin/env python3
"""Parallel AUTH attempts for the throttle tests, on Python's smtplib.

Opens --connections sessions from as many threads, says EHLO on each, waits
until all are ready, then sends AUTH PLAIN with the same credentials on all of
them at once. Prints one JSON line per session, in the order they finished:
  {"auth": 535, "text": "5.7.8 Error: authentication failed"}
or {"error": "..."} when the session broke before a reply.
"""
import argparse
import json
import smtplib
import sys
import threading

p = argparse.ArgumentParser()
p.add_argument("--port", type=int, required=True)
p.add_argument("--connections", type=int, default=20)
p.add_argument("--user", required=True)
p.add_argument("--password", required=True)
a = p.parse_args()

ready = threading.Barrier(a.connections, timeout=20)
lock = threading.Lock()


def report(out):
    with lock:
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()


def session():
    out = {}
    try:
        s = smtplib.SMTP("127.0.0.1", a.port, timeout=30)
        s.ehlo("client.test")
        s.user, s.password = a.user, a.password
        ready.wait()
        code, text = s.auth("PLAIN", s.auth_plain, initial_response_ok=True)
        out = {"auth": code, "text": text.decode("utf-8", "replace")}
        s.close()
    except smtplib.SMTPResponseException as e:
        out = {"auth": e.smtp_code, "text": e.smtp_error.decode("utf-8", "replace")}
    except Exception as e:  # noqa: BLE001 - reported to the test as text
        out = {"error": f"{type(e).__name__}: {e}"}
    report(out)


threads = [threading.Thread(target=session) for _ in range(a.connections)]
for t in threads:
    t.start()
for t in threads:
    t.join()

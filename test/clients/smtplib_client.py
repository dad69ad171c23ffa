#!/usr/bin/env python3
"""A real SMTP client for the integration tests, on Python's smtplib.

Sends messages over several threads (one connection per message) and prints
one JSON line per message as soon as its reply arrives:
  {"id": "<queue id>", "sha256": "<hash of the content sent>", "code": 250}
or {"code": 4xx/5xx, "error": "..."} / {"error": "..."} when the server refused
or went away. Content is built so the gateway must dot-stuff and keep 8-bit
bytes; the hash is of the exact bytes the server should store after its own
Received header (CRLF line ends, as smtplib sends them).
"""
import argparse
import hashlib
import json
import smtplib
import sys
import threading

lock = threading.Lock()


def emit(obj):
    with lock:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()


def message_bytes(n, size, utf8):
    subject = f"message {n}"
    head = f"From: <sender@example.test>\r\nTo: <rcpt@example.test>\r\nSubject: {subject}\r\nMessage-ID: <{n}@client.test>\r\n"
    if utf8:
        head += "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n"
    body_line = (".dot-led line " if n % 2 else "plain line ") + ("ünïcödé " if utf8 else "") + str(n)
    lines = []
    total = 0
    while total < size:
        line = f"{body_line} {len(lines)}"
        lines.append(line)
        total += len(line.encode()) + 2
    return (head + "\r\n" + "\r\n".join(lines) + "\r\n").encode("utf-8")


def send_one(args, n):
    data = message_bytes(n, args.size, args.utf8)
    try:
        s = smtplib.SMTP("127.0.0.1", args.port, local_hostname="client.test", timeout=30)
    except OSError as e:
        emit({"n": n, "error": f"connect: {e}"})
        return
    try:
        s.ehlo()
        options = []
        if args.utf8:
            options += ["BODY=8BITMIME", "SMTPUTF8"]
        code, resp = s.mail("sender@example.test", options)
        if code != 250:
            emit({"n": n, "code": code, "error": resp.decode()})
            return
        for rcpt in args.to:
            code, resp = s.rcpt(rcpt)
            if code != 250:
                emit({"n": n, "code": code, "error": resp.decode()})
                return
        code, resp = s.data(data)
        text = resp.decode()
        if code == 250:
            queue_id = text.rsplit(" ", 1)[-1]
            emit({"n": n, "code": code, "id": queue_id, "sha256": hashlib.sha256(data).hexdigest()})
        else:
            emit({"n": n, "code": code, "error": text})
        try:
            s.quit()
        except Exception:
            pass
    except (smtplib.SMTPException, OSError) as e:
        emit({"n": n, "error": f"{type(e).__name__}: {e}"})
    finally:
        try:
            s.close()
        except Exception:
            pass


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--count", type=int, default=1)
    p.add_argument("--first", type=int, default=0, help="number of the first message (its Message-ID is <N@client.test>)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--size", type=int, default=2000)
    p.add_argument("--utf8", action="store_true")
    p.add_argument("--to", action="append", default=None)
    args = p.parse_args()
    args.to = args.to or ["rcpt@example.test"]
    counter = iter(range(args.first, args.first + args.count))
    counter_lock = threading.Lock()

    def worker():
        while True:
            with counter_lock:
                n = next(counter, None)
            if n is None:
                return
            send_one(args, n)

    threads = [threading.Thread(target=worker) for _ in range(args.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""One DATA load of a chosen body shape over parallel SMTP sessions.

Usage: dots-load.py HOST PORT SHAPE SIZE SESSIONS

SHAPE is what each message body is made of, SIZE bytes of it:
  dot-lf     lines of ".\\n" (a stuffed-looking dot and a bare LF; refused at the end
             with 550 under smtpd_forbid_bare_newline: reject, but read to the end)
  dot-crlf   lines of "..\\r\\n" (each a stuffed "." line)
  text       ordinary 78-octet text lines ending in CRLF
Every session connects, says EHLO, MAIL, RCPT, DATA, sends the body in 64 KiB writes,
then "\\r\\n.\\r\\n", reads the reply and says QUIT. Prints one JSON line:
  {"shape":..,"size":..,"sessions":..,"seconds":..,"replies":{"250":n,...},"errors":[..]}
Exit status 0 if every session got a final reply (2xx or 5xx) to its message.
"""
import json
import socket
import sys
import threading
import time

LINES = {
    "dot-lf": b".\n",
    "dot-crlf": b"..\r\n",
    "text": b"x" * 76 + b"\r\n",
}


def body(shape, size):
    unit = LINES[shape]
    return (unit * (size // len(unit) + 1))[:size - size % len(unit)]


def reply(sock, buf):
    """Reads one (possibly multi-line) reply; returns (code, rest of buffer)."""
    while True:
        while b"\r\n" not in buf:
            data = sock.recv(65536)
            if not data:
                raise ConnectionError("connection closed")
            buf += data
        line, buf = buf.split(b"\r\n", 1)
        if line[3:4] != b"-":
            return int(line[:3]), buf


def session(host, port, message, results, errors):
    try:
        with socket.create_connection((host, port), timeout=600) as sock:
            buf = b""
            code, buf = reply(sock, buf)
            for command in (b"EHLO client.bench.test", b"MAIL FROM:<sender@bench.test>", b"RCPT TO:<rcpt@example.test>", b"DATA"):
                sock.sendall(command + b"\r\n")
                code, buf = reply(sock, buf)
                if code >= 400:
                    raise RuntimeError(f"{command.decode()} got {code}")
            for i in range(0, len(message), 65536):
                sock.sendall(message[i:i + 65536])
            # CRLF first: after a bare LF line, ".\r\n" alone would not end the message.
            sock.sendall(b"\r\n.\r\n")
            code, buf = reply(sock, buf)
            results.append(code)
            try:
                sock.sendall(b"QUIT\r\n")
                reply(sock, buf)
            except OSError:
                pass  # a 550 for bare newlines closes the connection
    except Exception as err:  # noqa: BLE001 - reported in the JSON line
        errors.append(str(err))


def main():
    if len(sys.argv) != 6 or sys.argv[3] not in LINES:
        sys.stderr.write(__doc__)
        sys.exit(2)
    host, port, shape = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    size, sessions = int(sys.argv[4]), int(sys.argv[5])
    message = body(shape, size)
    results, errors = [], []
    threads = [threading.Thread(target=session, args=(host, port, message, results, errors)) for _ in range(sessions)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    counts = {}
    for code in results:
        counts[str(code)] = counts.get(str(code), 0) + 1
    print(json.dumps({
        "shape": shape,
        "size": len(message),
        "sessions": sessions,
        "seconds": round(time.monotonic() - t0, 3),
        "replies": counts,
        "errors": errors[:5],
    }))
    sys.exit(0 if len(results) == sessions else 1)


if __name__ == "__main__":
    main()

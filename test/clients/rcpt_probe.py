#!/usr/bin/env python3
"""One SMTP transaction with Python's smtplib, reporting every reply.

  rcpt_probe.py --port N --from ADDR [--data TEXT] RCPT...

Sends EHLO, MAIL and one RCPT per address (smtplib quotes them as it does for
sendmail), then DATA with TEXT if given and any recipient was accepted.
Prints one JSON object: {"rcpt": [{"address", "code", "text"}...],
"data": {"code", "text"} or null, "closed": true if the server hung up}.
"""
import argparse
import json
import smtplib


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--from", dest="sender", required=True)
    p.add_argument("--data")
    p.add_argument("recipients", nargs="*")
    args = p.parse_args()

    out = {"rcpt": [], "data": None, "closed": False}
    s = smtplib.SMTP("127.0.0.1", args.port, local_hostname="client.test", timeout=30)
    try:
        s.ehlo()
        code, text = s.mail(args.sender)
        if code != 250:
            raise SystemExit(f"MAIL refused: {code} {text.decode()}")
        accepted = 0
        for rcpt in args.recipients:
            code, text = s.rcpt(rcpt)
            out["rcpt"].append({"address": rcpt, "code": code, "text": text.decode()})
            accepted += code == 250
            if code == 421:
                out["closed"] = True
                break
        if args.data is not None and accepted and not out["closed"]:
            code, text = s.data(args.data.encode())
            out["data"] = {"code": code, "text": text.decode()}
        if not out["closed"]:
            s.quit()
    except smtplib.SMTPServerDisconnected:
        out["closed"] = True
    print(json.dumps(out))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""AUTH PLAIN with Python's smtplib, reporting the server's reply.

  auth_probe.py --port N --user USER --password PASSWORD

Prints one JSON object: {"code": N, "text": "..."} of the reply to AUTH.
"""
import argparse
import json
import smtplib


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    args = p.parse_args()
    s = smtplib.SMTP("127.0.0.1", args.port, local_hostname="client.test", timeout=30)
    try:
        s.ehlo()
        try:
            code, text = s.login(args.user, args.password)
        except smtplib.SMTPAuthenticationError as e:
            code, text = e.smtp_code, e.smtp_error
        except smtplib.SMTPResponseException as e:
            code, text = e.smtp_code, e.smtp_error
        print(json.dumps({"code": code, "text": text.decode() if isinstance(text, bytes) else text}))
    finally:
        try:
            s.quit()
        except smtplib.SMTPException:
            pass


if __name__ == "__main__":
    main()

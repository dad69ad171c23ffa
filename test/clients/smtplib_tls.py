#!/usr/bin/env python3
"""A real TLS SMTP client for the integration tests, on Python's smtplib and ssl.

Connects with implicit TLS (SMTP_SSL) or STARTTLS, verifying the server's
certificate (for 127.0.0.1) against --cafile, optionally authenticates with
the given mechanism, sends one message and prints one JSON line:
  {"tls": "TLSv1.3", "auth": 235, "send": {}, "code": 250}
or {"error": "...", "code": 5xx} when the server refused.
"""
import argparse
import json
import smtplib
import ssl
import sys

p = argparse.ArgumentParser()
p.add_argument("--port", type=int, required=True)
p.add_argument("--mode", choices=["starttls", "implicit"], required=True)
p.add_argument("--cafile", required=True)
p.add_argument("--user")
p.add_argument("--password")
p.add_argument("--mechanism", default="PLAIN")
p.add_argument("--sender", default="sender@example.test")
p.add_argument("--to", default="rcpt@example.test")
a = p.parse_args()

context = ssl.create_default_context(cafile=a.cafile)
out = {}
try:
    if a.mode == "implicit":
        s = smtplib.SMTP_SSL("127.0.0.1", a.port, context=context, timeout=20)
    else:
        s = smtplib.SMTP("127.0.0.1", a.port, timeout=20)
        s.ehlo("client.test")
        s.starttls(context=context)
    s.ehlo("client.test")
    out["tls"] = s.sock.version()
    if a.user:
        s.user, s.password = a.user, a.password
        code, _ = s.auth(a.mechanism, getattr(s, "auth_" + a.mechanism.lower().replace("-", "_")), initial_response_ok=True)
        out["auth"] = code
    msg = f"From: <{a.sender}>\r\nTo: <{a.to}>\r\nSubject: tls test\r\n\r\nhello over TLS\r\n"
    out["send"] = s.sendmail(a.sender, [a.to], msg)
    out["code"] = 250
    s.quit()
except smtplib.SMTPResponseException as e:
    out["code"] = e.smtp_code
    out["error"] = e.smtp_error.decode("utf-8", "replace")
except smtplib.SMTPRecipientsRefused as e:
    out["code"] = list(e.recipients.values())[0][0]
    out["error"] = "recipients refused"
except Exception as e:  # noqa: BLE001 - reported to the test as text
    out["error"] = f"{type(e).__name__}: {e}"
sys.stdout.write(json.dumps(out) + "\n")

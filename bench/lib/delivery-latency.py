#!/usr/bin/env python3
"""Per-message delivery latency from a server's log, for bench/relay.sh.

Usage: delivery-latency.py qgate LOG        (qgate's JSON lines, log level info)
       delivery-latency.py postfix MAILLOG  (the private instance's maillog_file)

For every message that was delivered, two intervals:

  250 -> delivered  from the moment the server accepted the message to the moment the
                    next hop (the smtp-sink) accepted it.
      qgate:   "time" of the line {"event":"message","result":"queued","queueId":Q} (logged
               right after the 250 went out) to "time" of {"event":"delivery",
               "queueId":Q,"result":"delivered"}; ISO timestamps in milliseconds.
      Postfix: cleanup's "Q: message-id=" line (cleanup is writing the queue file; smtpd
               sends its 250 as soon as cleanup has committed it) to smtp's
               "Q: to=<..>, ... status=sent" line. The maillog timestamps carry whatever
               precision Postfix writes; Postfix 3.7 writes whole seconds ("Nov 23
               12:32:13"), so each value is a difference of whole seconds (resolution 1 s,
               error up to 1 s either way). "lat_resolution_ms" says which.
  MAIL -> delivered from the MAIL FROM command to the next hop's acceptance, at a fine
                    resolution for both systems:
      qgate:   the 250 -> delivered time plus the message line's "ms" (its transaction's
               duration from MAIL FROM to the 250).
      Postfix: the "delay=" of the status=sent line: the time since smtpd received MAIL
               FROM, with 2 significant digits (and up to delay_logging_resolution_limit
               decimals, set to 6 by bench/postfix/relay.cf.in).

Prints one JSON object: delivered (messages with a delivery line), matched (with both
ends), lat_p50_ms, lat_p99_ms, lat_max_ms, lat_resolution_ms, mail_p50_ms, mail_p99_ms,
mail_max_ms. Percentiles are nearest-rank, as in load.sh.
"""
import calendar
import json
import re
import sys
import time
from datetime import datetime, timezone


def rank(values, p):
    if not values:
        return None
    values = sorted(values)
    r = int(p * len(values))
    if r < p * len(values):
        r += 1
    return values[max(r, 1) - 1]


def iso_epoch(text):
    # "2026-11-23T12:33:54.165Z"
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()


def qgate(path):
    queued, delivered = {}, {}
    with open(path, "rb") as f:
        for raw in f:
            if not raw.startswith(b"{") or b'"event":"' not in raw:
                continue
            try:
                rec = json.loads(raw)
            except ValueError:
                continue
            event = rec.get("event")
            if event == "message" and rec.get("result") == "queued":
                queued[rec["queueId"]] = (iso_epoch(rec["time"]), rec.get("ms"))
            elif event == "delivery" and rec.get("result") == "delivered":
                delivered.setdefault(rec["queueId"], iso_epoch(rec["time"]))
    lat, mail = [], []
    for qid, t_done in delivered.items():
        if qid not in queued:
            continue
        t_250, ms = queued[qid]
        lat.append((t_done - t_250) * 1000)
        if ms is not None:
            mail.append((t_done - t_250) * 1000 + ms)
    return len(delivered), lat, mail, 1


# "Nov 23 12:32:13 host postfix-bench/smtp[832]: 014122100B4: to=<...>, ..." (the time may
# carry a fraction of a second in other Postfix versions; it is used if present)
LINE = re.compile(r"^(\w{3} +\d+ \d\d:\d\d:\d\d(?:\.(\d+))?) \S+ [^/\s]+/([\w-]+)\[\d+\]: ([0-9A-Za-z]+): (.*)$")
DELAY = re.compile(r"\bdelay=([0-9.]+),")


def postfix(path):
    year = time.gmtime().tm_year
    decimals = None
    last_epoch = None
    cleanup, sent, delays = {}, {}, {}
    with open(path, "r", encoding="utf-8", errors="replace") as f:
        for line in f:
            m = LINE.match(line.rstrip("\n"))
            if not m:
                continue
            stamp, frac, daemon, qid, rest = m.groups()
            d = len(frac) if frac else 0
            decimals = d if decimals is None else min(decimals, d)
            base = stamp.split(".")[0]
            # local wall-clock time, read as if it were UTC: only differences are used
            t = calendar.timegm(time.strptime(f"{year} {base}", "%Y %b %d %H:%M:%S"))
            if last_epoch is not None and t < last_epoch - 180 * 86400:  # the log crossed New Year
                year += 1
                t = calendar.timegm(time.strptime(f"{year} {base}", "%Y %b %d %H:%M:%S"))
            last_epoch = t
            if frac:
                t += float("0." + frac)
            if daemon == "cleanup" and rest.startswith("message-id="):
                cleanup.setdefault(qid, t)
            elif daemon in ("smtp", "relay") and rest.startswith("to=<") and ", status=sent " in rest:
                sent.setdefault(qid, t)
                dm = DELAY.search(rest)
                if dm:
                    delays.setdefault(qid, float(dm.group(1)) * 1000)
    lat = [(t_done - cleanup[q]) * 1000 for q, t_done in sent.items() if q in cleanup]
    mail = list(delays.values())
    resolution = 10 ** (3 - (decimals or 0)) if decimals is not None else None
    return len(sent), lat, mail, resolution


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("qgate", "postfix"):
        sys.stderr.write(__doc__)
        sys.exit(2)
    delivered, lat, mail, resolution = (qgate if sys.argv[1] == "qgate" else postfix)(sys.argv[2])

    def r(v):
        return None if v is None else round(v, 3)

    print(
        json.dumps(
            {
                "delivered": delivered,
                "matched": len(lat),
                "lat_p50_ms": r(rank(lat, 0.5)),
                "lat_p99_ms": r(rank(lat, 0.99)),
                "lat_max_ms": r(max(lat) if lat else None),
                "lat_resolution_ms": resolution,
                "mail_p50_ms": r(rank(mail, 0.5)),
                "mail_p99_ms": r(rank(mail, 0.99)),
                "mail_max_ms": r(max(mail) if mail else None),
            },
            separators=(",", ":"),
        )
    )


if __name__ == "__main__":
    main()

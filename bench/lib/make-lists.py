#!/usr/bin/env python3
"""Writes the blacklist files for `npm run bench -- policy`: 100,000 entries each in
badmailfrom and badrcptto (exact addresses, @domain entries and a few regexes), none of
which matches the benchmark's own sender@bench.test / rcpt@example.test, so every command
pays for a full miss, the worst case.

Usage: make-lists.py DIR
"""
import os
import sys

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
for name in ("badmailfrom", "badrcptto"):
    with open(os.path.join(out, name), "w") as f:
        f.write(f"# {name}: 100,000 entries for the policy benchmark\n")
        for i in range(90_000):
            f.write(f"user{i}@listed{i % 997}.example.net\n")
        for i in range(9_990):
            f.write(f"@spam{i}.example.org\n")
        for i in range(10):
            f.write(f"regex:bounce-[0-9]+-{i}@lists[0-9]*\\.example\\.com\n")

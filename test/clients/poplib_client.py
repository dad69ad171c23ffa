#!/usr/bin/env python3
"""Runs a list of POP3 steps with Python's poplib and prints one JSON result.

usage: poplib_client.py PORT MODE CAFILE STEPS_JSON
  MODE: plain (no TLS), stls (STLS first), ssl (POP3 over TLS, port 995 style)
  CAFILE: the CA to trust, or - in plain mode
  STEPS_JSON: a list like ["user alice@example.test", "pass pw", "stat", "list",
              "uidl", "retr 1", "top 1 0", "dele 1", "rset", "noop", "quit"]
Each step's result is {"ok": true, "resp": ..., "lines": [...], "octets": n} or
{"ok": false, "error": "..."}; poplib undoes the dot-stuffing of RETR and TOP.
"""
import json
import poplib
import ssl
import sys

port, mode, cafile, steps = int(sys.argv[1]), sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
context = ssl.create_default_context(cafile=None if cafile == '-' else cafile)
context.check_hostname = False

if mode == 'ssl':
    pop = poplib.POP3_SSL('127.0.0.1', port, context=context, timeout=20)
else:
    pop = poplib.POP3('127.0.0.1', port, timeout=20)
results = [{'ok': True, 'resp': pop.getwelcome().decode()}]
if mode == 'stls':
    results.append({'ok': True, 'resp': pop.stls(context=context).decode()})


def text(b):
    return b.decode('utf-8', 'replace')


for step in steps:
    verb, _, arg = step.partition(' ')
    try:
        if verb == 'user':
            r = {'resp': text(pop.user(arg))}
        elif verb == 'pass':
            r = {'resp': text(pop.pass_(arg))}
        elif verb == 'stat':
            count, size = pop.stat()
            r = {'resp': f'{count} {size}', 'count': count, 'size': size}
        elif verb in ('list', 'uidl', 'retr', 'top', 'capa'):
            if verb == 'capa':
                caps = pop.capa()
                r = {'resp': 'capa', 'lines': sorted(caps.keys())}
            else:
                args = arg.split() if arg else []
                if verb in ('list', 'uidl') and args:
                    r = {'resp': text(getattr(pop, verb)(args[0]))}
                else:
                    resp, lines, octets = (pop.top(*args) if verb == 'top' else getattr(pop, verb)(*args))
                    # The message's size in CRLF form, as LIST should announce it.
                    r = {'resp': text(resp), 'lines': [text(l) for l in lines], 'octets': octets,
                         'crlf_size': sum(len(l) + 2 for l in lines)}
        elif verb == 'dele':
            r = {'resp': text(pop.dele(arg))}
        elif verb == 'rset':
            r = {'resp': text(pop.rset())}
        elif verb == 'noop':
            r = {'resp': text(pop.noop())}
        elif verb == 'plain':
            user, password = arg.split(' ', 1)
            import base64
            token = base64.b64encode(f'\0{user}\0{password}'.encode()).decode()
            r = {'resp': text(pop._shortcmd(f'AUTH PLAIN {token}'))}
        elif verb == 'quit':
            r = {'resp': text(pop.quit())}
        else:
            raise ValueError(f'unknown step {step}')
        r['ok'] = True
    except poplib.error_proto as e:
        r = {'ok': False, 'error': text(e.args[0]) if isinstance(e.args[0], bytes) else str(e)}
    results.append(r)

print(json.dumps(results))

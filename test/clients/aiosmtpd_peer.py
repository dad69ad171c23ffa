#!/usr/bin/python3
"""A configurable SMTP peer on aiosmtpd (1.4.x) for the remote delivery tests.

Listens on 127.0.0.1, prints one JSON line {"port": N} once it accepts
connections, logs each session to stderr and exits on SIGTERM (and, with
--stop-on-stdin-eof, when its parent goes away and stdin closes).

Modes:
  accept                250 for everything; each message is stored in --store
  tempfail-then-accept  the first DATA gets 451 4.3.0, later ones are stored
  reject-rcpt           550 5.1.1 for local parts starting with "bad"
  reject-data           554 5.6.0 at the end of DATA
  drop-mid-data         closes the connection while the message is arriving
  greet-421             greets 421 4.3.2 and closes
  starttls              offers STARTTLS with a self-signed certificate
  auth                  AUTH PLAIN/LOGIN as u/p; MAIL without AUTH gets 530
  one-message-421       like accept, but a second MAIL on a connection gets 421 4.7.0
                        and the connection closes (a per-connection message limit)
  one-message-drop      like accept, but a second MAIL on a connection is answered by
                        hanging up (a server that went away while the client was idle)

Connections are numbered from 1 in the order they arrive; each one logs
"<peer> session N" when it opens. --idle-timeout makes the peer close a
connection that has said nothing for that many seconds.

A stored message is NNNNNN.eml (the bytes as received, dot-unstuffed) with
the envelope and session facts in NNNNNN.json next to it ("session" is the
number of the connection it came on).
"""

import argparse
import asyncio
import itertools
import json
import logging
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

MODES = (
    "accept",
    "tempfail-then-accept",
    "reject-rcpt",
    "reject-data",
    "drop-mid-data",
    "greet-421",
    "starttls",
    "auth",
    "one-message-421",
    "one-message-drop",
)
HOSTNAME = "peer.test"
log = logging.getLogger("peer")


class Store:
    """Numbered message files with a JSON sidecar holding the envelope."""

    def __init__(self, directory):
        self.directory = directory
        self.count = 0

    def save(self, server, session, envelope):
        self.count += 1
        name = "%06d" % self.count
        login = session.login_data
        facts = {
            "session": server.number,
            "mail_from": envelope.mail_from,
            "mail_options": envelope.mail_options,
            "rcpt_tos": envelope.rcpt_tos,
            "helo": session.host_name,
            "tls": session.ssl is not None,
            "auth": login.decode("utf-8", "replace") if isinstance(login, bytes) else login,
        }
        # The sidecar first and each file renamed into place, so that a reader
        # that sees the .eml also sees a complete envelope.
        self._write(name + ".json", json.dumps(facts).encode())
        self._write(name + ".eml", envelope.original_content)
        return name

    def _write(self, filename, data):
        partial = os.path.join(self.directory, "." + filename + ".tmp")
        with open(partial, "wb") as f:
            f.write(data)
        os.rename(partial, os.path.join(self.directory, filename))


class Handler:
    def __init__(self, mode, store):
        self.mode = mode
        self.store = store
        self.data_seen = 0

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        log.info("%r EHLO %s", session.peer, hostname)
        return responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        log.info("%r MAIL FROM:<%s> %s", session.peer, address, " ".join(mail_options))
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.rsplit("@", 1)[0]
        if self.mode == "reject-rcpt" and local.startswith("bad"):
            log.info("%r RCPT TO:<%s> rejected", session.peer, address)
            return "550 5.1.1 <%s>: mailbox unavailable" % address
        log.info("%r RCPT TO:<%s>", session.peer, address)
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        self.data_seen += 1
        if self.mode == "reject-data":
            log.info("%r DATA rejected", session.peer)
            return "554 5.6.0 Message content rejected"
        if self.mode == "tempfail-then-accept" and self.data_seen == 1:
            log.info("%r DATA deferred", session.peer)
            return "451 4.3.0 Temporary failure, try again later"
        name = self.store.save(server, session, envelope)
        log.info("%r DATA stored as %s (%d bytes)", session.peer, name, len(envelope.original_content))
        return "250 2.0.0 Ok: queued as %s" % name


class NumberedSMTP(SMTP):
    """Carries the number of its connection (set by the factory) and logs it."""

    number = 0

    def connection_made(self, transport):
        # STARTTLS calls this again for the same connection with the TLS transport.
        fresh = self._original_transport is None
        super().connection_made(transport)
        if fresh:
            log.info("%r session %d", self.session.peer, self.number)


class DroppingSMTP(NumberedSMTP):
    """Takes DATA, reads the first line of the message and hangs up."""

    async def smtp_DATA(self, arg):
        if not self.envelope.rcpt_tos:
            await self.push("503 5.5.1 Error: need RCPT command")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        await self._reader.readuntil(b"\r\n")
        log.info("%r dropping the connection in the middle of DATA", self.session.peer)
        self.transport.close()


class OneMessageSMTP(NumberedSMTP):
    """Takes one message per connection; a second MAIL ends it (421, or no reply at all)."""

    silent = False
    messages_taken = 0

    async def smtp_MAIL(self, arg):
        if self.messages_taken:
            log.info("%r ending the connection at MAIL number %d", self.session.peer, self.messages_taken + 1)
            if not self.silent:
                await self.push("421 4.7.0 peer.test Too many messages on this connection, closing transmission channel")
            self.transport.close()
            return
        await super().smtp_MAIL(arg)

    async def smtp_DATA(self, arg):
        await super().smtp_DATA(arg)
        self.messages_taken += 1


class OneMessageSilentSMTP(OneMessageSMTP):
    silent = True


async def greet_421(reader, writer):
    peer = writer.get_extra_info("peername")
    log.info("%r greeting with 421", peer)
    writer.write(b"421 4.3.2 peer.test Service not available, closing transmission channel\r\n")
    await writer.drain()
    writer.close()


def self_signed_context(directory):
    """A server context with a fresh self-signed certificate made by openssl."""
    cert = os.path.join(directory, "cert.pem")
    key = os.path.join(directory, "key.pem")
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "2", "-subj", "/CN=" + HOSTNAME,
            "-keyout", key, "-out", cert,
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


def check_password(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"u" and auth_data.password == b"p"
    log.info("%r AUTH %s %s", session.peer, mechanism, "accepted" if ok else "rejected")
    if ok:
        return AuthResult(success=True, auth_data=auth_data)
    # handled=False lets aiosmtpd answer 535 5.7.8.
    return AuthResult(success=False, handled=False)


async def serve(args, workdir):
    loop = asyncio.get_running_loop()
    if args.mode == "greet-421":
        server = await asyncio.start_server(greet_421, host="127.0.0.1", port=args.port)
    else:
        handler = Handler(args.mode, Store(args.store))
        options = {"hostname": HOSTNAME, "ident": "aiosmtpd peer (%s)" % args.mode}
        if args.idle_timeout:
            options["timeout"] = args.idle_timeout
        protocol = NumberedSMTP
        if args.mode == "drop-mid-data":
            protocol = DroppingSMTP
        elif args.mode == "one-message-421":
            protocol = OneMessageSMTP
        elif args.mode == "one-message-drop":
            protocol = OneMessageSilentSMTP
        elif args.mode == "starttls":
            options["tls_context"] = self_signed_context(workdir)
        elif args.mode == "auth":
            options.update(authenticator=check_password, auth_required=True, auth_require_tls=False)
        numbers = itertools.count(1)

        def connection():
            smtp = protocol(handler, **options)
            smtp.number = next(numbers)
            return smtp

        server = await loop.create_server(connection, host="127.0.0.1", port=args.port)

    stopping = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stopping.set)
    loop.add_signal_handler(signal.SIGINT, stopping.set)
    if args.stop_on_stdin_eof:
        # A test runner that dies without stopping us must not leave a server behind.
        stdin = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)

        async def parent_gone():
            await stdin.read()
            log.info("stdin closed")
            stopping.set()

        watcher = asyncio.create_task(parent_gone())
    port = server.sockets[0].getsockname()[1]
    log.info("listening on 127.0.0.1:%d in mode %s", port, args.mode)
    print(json.dumps({"port": port}), flush=True)
    await stopping.wait()
    log.info("stopping")
    server.close()
    if args.stop_on_stdin_eof:
        watcher.cancel()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--mode", choices=MODES, default="accept")
    parser.add_argument("--store", help="directory for accepted messages (default: a temporary one)")
    parser.add_argument("--idle-timeout", type=float, help="seconds of client silence before the peer hangs up (default 300)")
    parser.add_argument("--stop-on-stdin-eof", action="store_true", help="exit once stdin reaches end of file")
    args = parser.parse_args()

    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    workdir = tempfile.mkdtemp(prefix="aiosmtpd-peer-")
    try:
        if not args.store:
            args.store = os.path.join(workdir, "store")
            os.mkdir(args.store)
        asyncio.run(serve(args, workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()

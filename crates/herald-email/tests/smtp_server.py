"""A real SMTP server for herald-email's tests, built on aiosmtpd.

It listens on 127.0.0.1 on a port the system picks, prints
``LISTENING <port>`` on stdout once it accepts connections, and writes every
message it accepts to ``<dir>/<n>.json`` (written to a temporary name, then
renamed, so a reader never sees half a file):

    {"mail_from": ..., "rcpt_tos": [...], "auth_login": ... or null,
     "data": "<raw message as received>",
     "parsed": {"headers": [[name, value], ...], "content_type": ...,
                "text": ... or null, "html": ... or null}}

``parsed`` comes from Python's own email parser, a second opinion on what
lettre produced: transfer encodings decoded, RFC 2047 headers decoded,
line ends back to LF.

Options:
    --dir DIR            where to write messages (required)
    --fail-rcpt CODE     answer every RCPT TO with CODE (e.g. 451, 550)
    --fail-data CODE     answer the end of DATA with CODE
    --auth USER:PASS     offer AUTH PLAIN/LOGIN (without TLS) and accept only
                         these credentials (the password may contain ':')

It exits when its stdin closes, so it cannot outlive the test that started
it even if that test is killed.
"""

import argparse
import asyncio
import email
import email.policy
import json
import logging
import os
import sys
import threading

try:
    from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword
except ImportError:
    sys.stderr.write(
        "smtp_server.py: the Python package aiosmtpd is missing; "
        "install it with `python3 -m pip install aiosmtpd`\n"
    )
    sys.exit(3)


def reply_for(code):
    kind = "temporary" if code.startswith("4") else "permanent"
    return f"{code} herald test server: {kind} failure {code} on request"


class Handler:
    def __init__(self, directory, fail_rcpt, fail_data):
        self.directory = directory
        self.fail_rcpt = fail_rcpt
        self.fail_data = fail_data
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.fail_rcpt:
            return reply_for(self.fail_rcpt)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.fail_data:
            return reply_for(self.fail_data)
        raw = envelope.original_content or envelope.content
        self.count += 1
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "auth_login": login_of(session),
            "data": raw.decode("utf-8", errors="replace"),
            "parsed": parse(raw),
        }
        path = os.path.join(self.directory, f"{self.count:04}.json")
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            json.dump(record, f, indent=1)
        os.replace(path + ".tmp", path)
        return "250 2.0.0 Message accepted for delivery"


def login_of(session):
    data = session.auth_data
    if isinstance(data, LoginPassword):
        return data.login.decode("utf-8", errors="replace")
    return None


def parse(raw):
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    text = msg.get_body(preferencelist=("plain",))
    html = msg.get_body(preferencelist=("html",))
    return {
        "headers": [[k, str(v)] for k, v in msg.items()],
        "content_type": msg.get_content_type(),
        "text": content(text),
        "html": content(html),
    }


def content(part):
    """A part's decoded text with the wire's CRLF line ends made LF again."""
    if part is None:
        return None
    return part.get_content().replace("\r\n", "\n")


class Authenticator:
    def __init__(self, user, password):
        self.user = user.encode("utf-8")
        self.password = password.encode("utf-8")

    def __call__(self, server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == self.user
            and auth_data.password == self.password
        )
        if ok:
            return AuthResult(success=True, auth_data=auth_data)
        # handled=False: aiosmtpd itself answers 535.
        return AuthResult(success=False, handled=False)


def exit_when_stdin_closes():
    sys.stdin.read()
    os._exit(0)


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", required=True)
    parser.add_argument("--fail-rcpt")
    parser.add_argument("--fail-data")
    parser.add_argument("--auth")
    args = parser.parse_args()

    handler = Handler(args.dir, args.fail_rcpt, args.fail_data)
    options = {}
    if args.auth:
        user, _, password = args.auth.partition(":")
        options = {
            "authenticator": Authenticator(user, password),
            "auth_require_tls": False,
        }
    # aiosmtpd warns about its own use of a deprecated attribute on AUTH.
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="herald-test", loop=loop, **options),
        host="127.0.0.1",
        port=0,
    )
    port = server.sockets[0].getsockname()[1]
    threading.Thread(target=exit_when_stdin_closes, daemon=True).start()
    print(f"LISTENING {port}", flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())

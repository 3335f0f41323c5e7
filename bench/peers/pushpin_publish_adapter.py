#!/usr/bin/env python3
"""Publish adapter for the Pushpin benchmark peer (Python 3 stdlib only).

Herald's load generator publishes with a plain ``POST {pub_url}`` whose raw
body is the event payload. Pushpin instead takes JSON on its HTTP control
port. This adapter maps

    POST /pub/<channel>     (raw body B)

to

    POST http://127.0.0.1:18804/publish/
    {"items":[{"channel":"<channel>",
               "formats":{"http-stream":{"content":"data: B\\n\\n"}}}]}

so every subscriber held on <channel> receives the SSE event ``data: B``.
A body with several lines becomes one ``data:`` line per body line, as SSE
requires. Replies 200 ``Published`` on success, 502 if Pushpin refused or
could not be reached, 404 for other paths.

The server side is asyncio with HTTP/1.1 keep-alive, so a client can push
many publishes over one connection. Pushpin's control server answers every
request with ``Connection: close``, so each publish needs a fresh loopback
connection to it; that is cheap (well under a millisecond) and is done
asynchronously, so thousands of publishes per second are possible.

Usage: pushpin_publish_adapter.py [--listen 127.0.0.1:18803]
                                  [--pushpin 127.0.0.1:18804]
"""

import argparse
import asyncio
import base64
import json
import signal
import sys
from urllib.parse import unquote

MAX_BODY = 1_000_000


def sse_content(body: bytes):
    """Return the ``http-stream`` format object for one SSE event."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None:
        lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        return {"content": "".join("data: %s\n" % line for line in lines) + "\n"}
    # Not UTF-8: pass the bytes through untouched (single line assumed).
    return {"content-bin": base64.b64encode(b"data: " + body + b"\n\n").decode("ascii")}


class Adapter:
    def __init__(self, pushpin_host: str, pushpin_port: int):
        self.host = pushpin_host
        self.port = pushpin_port
        self.published = 0
        self.failed = 0

    async def publish(self, channel: str, body: bytes) -> tuple:
        payload = json.dumps(
            {"items": [{"channel": channel, "formats": {"http-stream": sse_content(body)}}]},
            separators=(",", ":"),
        ).encode("utf-8")
        req = (
            b"POST /publish/ HTTP/1.1\r\nHost: %s:%d\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n"
            b"Connection: close\r\n\r\n" % (self.host.encode(), self.port, len(payload))
        ) + payload
        try:
            reader, writer = await asyncio.open_connection(self.host, self.port)
        except OSError as e:
            self.failed += 1
            return 502, ("pushpin unreachable: %s\n" % e).encode()
        try:
            writer.write(req)
            await writer.drain()
            resp = await reader.read()  # server closes after the response
        except OSError as e:
            self.failed += 1
            return 502, ("pushpin error: %s\n" % e).encode()
        finally:
            writer.close()
        status_line = resp.split(b"\r\n", 1)[0].split()
        code = int(status_line[1]) if len(status_line) >= 2 and status_line[1].isdigit() else 0
        if code == 200:
            self.published += 1
            return 200, b"Published\n"
        self.failed += 1
        _, _, detail = resp.partition(b"\r\n\r\n")
        return 502, b"pushpin answered %d: " % code + detail

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                parts = lines[0].split(" ")
                if len(parts) != 3:
                    await self.reply(writer, 400, b"bad request line\n", False)
                    return
                method, target, version = parts
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                keep_alive = version == "HTTP/1.1"
                conn = headers.get("connection", "").lower()
                if "close" in conn:
                    keep_alive = False
                elif "keep-alive" in conn:
                    keep_alive = True

                # Body: Content-Length or chunked.
                if "chunked" in headers.get("transfer-encoding", "").lower():
                    body = bytearray()
                    while True:
                        size_line = await reader.readuntil(b"\r\n")
                        size = int(size_line.split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            # trailers until empty line
                            while (await reader.readuntil(b"\r\n")) != b"\r\n":
                                pass
                            break
                        body += await reader.readexactly(size)
                        await reader.readexactly(2)
                        if len(body) > MAX_BODY:
                            await self.reply(writer, 413, b"body too large\n", False)
                            return
                    body = bytes(body)
                else:
                    length = int(headers.get("content-length", "0") or 0)
                    if length > MAX_BODY:
                        await self.reply(writer, 413, b"body too large\n", False)
                        return
                    body = await reader.readexactly(length) if length else b""

                path = target.split("?", 1)[0]
                if method == "POST" and path.startswith("/pub/") and len(path) > 5 and "/" not in path[5:]:
                    code, msg = await self.publish(unquote(path[5:]), body)
                elif method == "GET" and path == "/health":
                    code, msg = 200, (
                        "ok published=%d failed=%d\n" % (self.published, self.failed)
                    ).encode()
                else:
                    code, msg = 404, b"use POST /pub/<channel>\n"
                await self.reply(writer, code, msg, keep_alive)
                if not keep_alive:
                    return
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            return
        finally:
            writer.close()

    @staticmethod
    async def reply(writer, code: int, body: bytes, keep_alive: bool):
        reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 413: "Payload Too Large",
                  502: "Bad Gateway"}.get(code, "Error")
        writer.write(
            b"HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
            b"Connection: %s\r\n\r\n" % (code, reason.encode(), len(body),
                                         b"keep-alive" if keep_alive else b"close")
            + body
        )
        await writer.drain()


def hostport(s: str) -> tuple:
    host, _, port = s.rpartition(":")
    return host or "127.0.0.1", int(port)


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--listen", default="127.0.0.1:18803")
    ap.add_argument("--pushpin", default="127.0.0.1:18804",
                    help="pushpin HTTP control address (push_in_http_addr:port)")
    args = ap.parse_args()
    lhost, lport = hostport(args.listen)
    phost, pport = hostport(args.pushpin)
    adapter = Adapter(phost, pport)
    server = await asyncio.start_server(adapter.handle, lhost, lport, backlog=1024,
                                        reuse_address=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print("pushpin publish adapter on %s:%d -> pushpin control %s:%d"
          % (lhost, lport, phost, pport), flush=True)
    async with server:
        await stop.wait()
    print("stopped: published=%d failed=%d" % (adapter.published, adapter.failed), flush=True)


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)

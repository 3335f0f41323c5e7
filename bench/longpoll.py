#!/usr/bin/env python3
"""Long-poll fan-out against a running Herald: N clients wait on
GET /v1/tenants/{t}/notifications?wait=S at once; one notification is
published; each client's wake-up latency (publish sent -> its answer read)
is recorded, and the server's RSS is read before and while the polls wait.

    python3 bench/longpoll.py --url http://127.0.0.1:8080 --operator-key KEY \
        --server-pid PID --clients 2000

Standard library only. Tokens are minted here (HS256) for the tenant it creates.
"""
import argparse, asyncio, base64, hashlib, hmac, json, statistics, time, urllib.request


def http(method, url, key, body=None):
    req = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body is not None else None)
    req.add_header("authorization", f"Bearer {key}")
    if body is not None:
        req.add_header("content-type", "application/json")
    with urllib.request.urlopen(req) as r:
        text = r.read()
        return json.loads(text) if text else None


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def token(kid, secret, sub, channels):
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    claims = b64(json.dumps({"sub": sub, "exp": int(time.time()) + 3600, "herald": {"subscribe": channels}}).encode())
    sig = hmac.new(secret.encode(), f"{header}.{claims}".encode(), hashlib.sha256).digest()
    return f"{header}.{claims}.{b64(sig)}"


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def long_poll(host, port, path, tok, ready, results):
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {tok}\r\n\r\n".encode())
    await writer.drain()
    ready.release()
    head = await reader.readuntil(b"\r\n\r\n")
    length = int([l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0].split(b":")[1])
    body = await reader.readexactly(length)
    results.append((time.perf_counter(), json.loads(body)))
    writer.close()


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="http://127.0.0.1:8080")
    ap.add_argument("--operator-key", required=True)
    ap.add_argument("--server-pid", type=int, required=True)
    ap.add_argument("--clients", type=int, default=2000)
    ap.add_argument("--wait", type=int, default=25)
    a = ap.parse_args()
    host, port = a.url.split("//")[1].split(":")
    port = int(port)
    t = http("POST", f"{a.url}/v1/tenants", a.operator_key, {"name": f"lp-{int(time.time())}"})
    admin = http("POST", f"{a.url}/v1/tenants/{t['id']}/keys", a.operator_key, {"name": "a", "scopes": ["admin", "publish"]})["secret"]
    sk = http("POST", f"{a.url}/v1/tenants/{t['id']}/signing-keys", admin, {"alg": "HS256"})
    first = http("POST", f"{a.url}/v1/tenants/{t['id']}/channels/orders/notifications", admin, {"type": "warm"})["id"]
    tok = token(sk["kid"], sk["secret"], "u", ["orders"])
    path = f"/v1/tenants/{t['id']}/notifications?channel=orders&after={first}&wait={a.wait}"

    before = rss_kib(a.server_pid)
    ready, results = asyncio.Semaphore(0), []
    tasks = [asyncio.create_task(long_poll(host, port, path, tok, ready, results)) for _ in range(a.clients)]
    for _ in range(a.clients):
        await ready.acquire()
    await asyncio.sleep(2)  # every request parsed and waiting on the hub
    waiting = rss_kib(a.server_pid)
    sent = time.perf_counter()
    await asyncio.to_thread(http, "POST", f"{a.url}/v1/tenants/{t['id']}/channels/orders/notifications", admin, {"type": "wake"})
    await asyncio.gather(*tasks)
    lat = sorted((at - sent) * 1000 for at, body in results if body["items"])
    print(json.dumps({
        "clients": a.clients, "woken_with_the_notification": len(lat),
        "latency_ms": {"p50": round(statistics.median(lat), 1), "p99": round(lat[int(len(lat) * 0.99) - 1], 1), "max": round(lat[-1], 1)},
        "rss_kib": {"before": before, "waiting": waiting, "per_waiting_poll": round((waiting - before) / a.clients, 2)},
    }))


asyncio.run(main())

#!/usr/bin/env python3
"""The soak driver (bench/soak.sh starts the gateway and runs this): mixed traffic at a fixed
rate, open loop, per-route latency and status, the gateway's RSS over time; a table, a CSV and a
PNG at the end; exit 1 when a criterion fails (see bench/soak.sh).

Python's standard library only, except matplotlib for the PNG (skipped with a warning when it
cannot be imported). Each request is scheduled at start + i / RATE and handed to a thread pool;
its latency counts from the scheduled time, so a slow gateway cannot slow the load down
(no coordinated omission). Each worker thread keeps one HTTP/1.1 connection alive.
"""

import argparse
import concurrent.futures
import csv
import http.client
import json
import os
import random
import sys
import threading
import time
from urllib.parse import urlsplit

# (route, weight): out of every 100 requests.
MIX = [
    ("tenant", 24),
    ("search", 16),
    ("chat", 10),
    ("chat_stream", 10),
    ("v1_chat", 14),
    ("admin", 10),
    ("login", 2),
    ("documents_list", 8),
    ("documents_ingest", 6),
]
EXPECTED = {"documents_ingest": 201}
WORDS = ["anvil", "rocket", "gyroscope", "zeppelin", "oolong", "ferry", "launch", "storage"]


def percentile(values, q):
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, int(round(q / 100 * len(ordered) + 0.5)) - 1))
    return ordered[index]


class Client:
    """One keep-alive connection per thread."""

    def __init__(self, base):
        parts = urlsplit(base)
        self.host, self.port = parts.hostname, parts.port
        self.local = threading.local()

    def _conn(self):
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
            self.local.conn = conn
        return conn

    def request(self, method, path, body=None, headers=None):
        """Returns (status, body bytes); status 0 on a transport error."""
        data = None if body is None else json.dumps(body).encode()
        headers = dict(headers or {})
        if data is not None:
            headers["content-type"] = "application/json"
        for attempt in range(2):
            conn = self._conn()
            try:
                conn.request(method, path, body=data, headers=headers)
                response = conn.getresponse()
                payload = response.read()
                return response.status, payload
            except (http.client.HTTPException, OSError):
                conn.close()
                self.local.conn = None
                if attempt == 1:
                    return 0, b""
        return 0, b""


def login(client, email, password):
    status, body = client.request("POST", "/auth/token", {"email": email, "password": password})
    if status != 200:
        sys.exit(f"soak: login as {email} answered {status}: {body[:200]!r}")
    return json.loads(body)["access_token"]


def make_requests(tenant_token, admin_token, api_key, password):
    """route -> function(n) -> (method, path, body, headers)."""
    user = {"authorization": f"Bearer {tenant_token}"}
    admin = {"authorization": f"Bearer {admin_token}"}
    key = {"x-api-key": api_key}

    def words(n, k=2):
        return " ".join(WORDS[(n + i * 3) % len(WORDS)] for i in range(k))

    return {
        "tenant": lambda n: ("GET", "/tenant", None, user),
        "search": lambda n: ("POST", "/search", {"query": words(n), "top_k": 3}, user),
        "chat": lambda n: ("POST", "/chat", {"message": f"Tell me about {words(n)}.", "top_k": 2}, user),
        "chat_stream": lambda n: (
            "POST", "/chat", {"message": f"Stream about {words(n)}.", "top_k": 2, "stream": True}, user,
        ),
        "v1_chat": lambda n: (
            "POST", "/v1/chat/completions",
            {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"Hello {n}"}]}, user,
        ),
        "admin": lambda n: ("GET", "/admin/tenants" if n % 2 else "/admin/tenants/soak", None, admin),
        "login": lambda n: ("POST", "/auth/token", {"email": "soak@example.com", "password": password}, {}),
        "documents_list": lambda n: ("GET", "/documents?limit=20", None, key),
        # Twenty ids replaced over and over: the table stays the same size.
        "documents_ingest": lambda n: (
            "POST", "/documents",
            {"documents": [{"id": f"soak-{n % 20}", "title": f"Soak {n % 20}",
                            "text": f"Soak document {n}: {words(n, 6)}. " * 5}]},
            key,
        ),
    }


def seed_documents(client, api_key):
    docs = [{"id": f"seed-{i}", "title": f"Seed {i}",
             "text": " ".join(WORDS[(i + j) % len(WORDS)] for j in range(40))} for i in range(8)]
    status, body = client.request("POST", "/documents", {"documents": docs}, {"x-api-key": api_key})
    if status != 201:
        sys.exit(f"soak: seeding documents answered {status}: {body[:200]!r}")


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def run(args):
    client = Client(args.base)
    password = os.environ["SOAK_PASSWORD"]
    api_key = os.environ["SOAK_API_KEY"]
    tenant_token = login(client, "soak@example.com", password)
    admin_token = login(client, "root@example.com", password)
    seed_documents(client, api_key)
    builders = make_requests(tenant_token, admin_token, api_key, password)

    cycle = [route for route, weight in MIX for _ in range(weight)]
    random.Random(14).shuffle(cycle)
    results = []  # (route, scheduled offset s, latency ms, status)
    unexpected = []  # (route, offset, status, body head)
    rss = []  # (offset s, KiB)
    stop = threading.Event()
    start = time.monotonic() + 0.2

    def sample_rss():
        while not stop.is_set():
            value = rss_kib(args.pid)
            if value is not None:
                rss.append((time.monotonic() - start, value))
            stop.wait(args.rss_every)

    def one(route, n, scheduled):
        method, path, body, headers = builders[route](n)
        status, payload = client.request(method, path, body, headers)
        latency = (time.monotonic() - scheduled) * 1000
        offset = scheduled - start
        results.append((route, offset, latency, status))
        if status != EXPECTED.get(route, 200):
            unexpected.append((route, offset, status, payload[:160]))

    sampler = threading.Thread(target=sample_rss, daemon=True)
    sampler.start()
    total = int(args.duration * args.rate)
    workers = max(16, min(256, int(args.rate)))
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        for n in range(total):
            scheduled = start + n / args.rate
            delay = scheduled - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            pool.submit(one, cycle[n % len(cycle)], n, scheduled)
            if n % int(args.rate * 30) == 0 and n:
                print(f"  {n / args.rate:5.0f}s  {len(results)} answered, "
                      f"{len(unexpected)} unexpected, RSS {rss[-1][1] / 1024 if rss else 0:.1f} MiB",
                      flush=True)
    stop.set()
    sampler.join()
    final = rss_kib(args.pid)
    if final is not None:
        rss.append((time.monotonic() - start, final))
    return results, unexpected, rss


def report(args, results, unexpected, rss):
    duration, warmup = args.duration, args.warmup
    first = (warmup, warmup + 60)
    last = (max(warmup, duration - 60), duration)
    routes = [route for route, _ in MIX]
    failures = []
    print()
    print(f"{'route':<18}{'count':>8}{'unexp.':>8}{'p50 ms':>9}{'p99 first':>11}{'p99 last':>10}  (ms; first"
          f" minute {first[0]:.0f}-{first[1]:.0f}s, last {last[0]:.0f}-{last[1]:.0f}s)")
    for route in routes:
        rows = [r for r in results if r[0] == route]
        bad = sum(1 for u in unexpected if u[0] == route)
        latencies = [r[2] for r in rows]
        p99_first = percentile([r[2] for r in rows if first[0] <= r[1] < first[1]], 99)
        p99_last = percentile([r[2] for r in rows if last[0] <= r[1] < last[1]], 99)
        print(f"{route:<18}{len(rows):>8}{bad:>8}{percentile(latencies, 50):>9.2f}"
              f"{p99_first:>11.2f}{p99_last:>10.2f}")
        if p99_last > max(2 * p99_first, p99_first + 5):
            failures.append(f"{route}: p99 {p99_first:.2f} ms in the first minute, {p99_last:.2f} ms in the last")
    print(f"{'all':<18}{len(results):>8}{len(unexpected):>8}{percentile([r[2] for r in results], 50):>9.2f}")
    for route, offset, status, head in unexpected[:10]:
        print(f"  unexpected: {route} at {offset:.1f}s -> {status} {head!r}")
    if unexpected:
        failures.append(f"{len(unexpected)} unexpected status(es)")

    # RSS moves as the allocator hands memory back: compare medians of 30 s windows, the one
    # right after the warm-up and the last one.
    begin = percentile([v for o, v in rss if warmup <= o < warmup + 30], 50)
    end = percentile([v for o, v in rss if o >= duration - 30], 50)
    if begin == begin and end == end:  # neither is NaN
        growth = (end - begin) / begin * 100
        print(f"\nRSS (medians of 30 s): {begin / 1024:.1f} MiB after the warm-up ({warmup:.0f}s), "
              f"{end / 1024:.1f} MiB at the end, growth {growth:+.1f} % (limit < 10 %); "
              f"peak {max(v for _, v in rss) / 1024:.1f} MiB")
        if growth >= 10:
            failures.append(f"RSS grew {growth:.1f} % after the warm-up")
    else:
        failures.append("no RSS sample after the warm-up")
    return failures


def series(args, results, rss):
    """Per time bucket: RSS (MiB) and p99 per route."""
    width = 10 if args.duration >= 300 else 5
    buckets = int(args.duration // width) + (1 if args.duration % width else 0)
    per = {}
    for route, offset, latency, _ in results:
        per.setdefault((route, min(buckets - 1, int(offset // width))), []).append(latency)
    rows = []
    for b in range(buckets):
        mid = b * width + width / 2
        in_bucket = [v for offset, v in rss if b * width <= offset < (b + 1) * width]
        row = {"t_s": mid, "rss_mib": (sum(in_bucket) / len(in_bucket) / 1024) if in_bucket else None}
        for route, _ in MIX:
            values = per.get((route, b))
            row[f"p99_{route}_ms"] = percentile(values, 99) if values else None
        rows.append(row)
    return rows


def write_csv(path, rows):
    with open(path, "w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if v is None else round(v, 3)) for k, v in row.items()})


def plot(path, args, rows, rss):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("soak: matplotlib is not installed: no PNG (bench/soak.sh makes a venv with it)")
        return
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
    top.plot([o for o, _ in rss], [v / 1024 for _, v in rss], color="black", linewidth=1)
    top.axvline(args.warmup, color="grey", linestyle="--", linewidth=0.8)
    top.set_ylabel("gateway RSS (MiB)")
    top.set_ylim(bottom=0)
    top.set_title(f"tenantgate soak: {args.duration:.0f} s at {args.rate:.0f} req/s, mixed routes")
    for route, _ in MIX:
        points = [(r["t_s"], r[f"p99_{route}_ms"]) for r in rows if r[f"p99_{route}_ms"] is not None]
        bottom.plot([p[0] for p in points], [p[1] for p in points], label=route, linewidth=1)
    bottom.axvline(args.warmup, color="grey", linestyle="--", linewidth=0.8)
    bottom.set_yscale("log")
    bottom.set_ylabel(f"p99 latency (ms, per {rows[1]['t_s'] - rows[0]['t_s']:.0f} s)" if len(rows) > 1 else "p99 (ms)")
    bottom.set_xlabel("seconds (dashed: end of warm-up)")
    bottom.legend(fontsize=7, ncol=3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"plot: {path}")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base", required=True)
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--duration", type=float, default=600)
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--warmup", type=float, default=60)
    parser.add_argument("--rss-every", type=float, default=2)
    parser.add_argument("--out", default="bench/soak")
    args = parser.parse_args()
    if args.duration < args.warmup + 60:
        sys.exit("soak: --duration must be at least --warmup + 60 (a first minute to compare)")

    results, unexpected, rss = run(args)
    failures = report(args, results, unexpected, rss)
    rows = series(args, results, rss)
    os.makedirs(args.out, exist_ok=True)
    write_csv(os.path.join(args.out, "soak.csv"), rows)
    plot(os.path.join(args.out, "soak.png"), args, rows, rss)
    if failures:
        print("\nFAILED:\n  " + "\n  ".join(failures))
        sys.exit(1)
    print("\nall criteria met")


if __name__ == "__main__":
    main()

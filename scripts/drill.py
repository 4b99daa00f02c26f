#!/usr/bin/env python3
"""Scale-out drill (docs/scale-out.md): three `tenantgate serve` replicas behind haproxy, PgBouncer
in transaction mode between them and the shared Postgres, Redis for shared limits.

Everything it starts (a database, PgBouncer, three replicas, haproxy) lives in a temporary
directory on free loopback ports and is stopped on exit, whatever happens. Standard library only.
Prints a table of checks (what, expected, seen, pass/fail); exits 1 if one fails.

Environment: TENANTGATE_BIN (default target/debug/tenantgate), DATABASE_URL (the Postgres server;
default postgres://postgres@127.0.0.1:5432/postgres), REDIS_URL (default redis://127.0.0.1:6379;
keys get a unique prefix), DRILL_SHORT=1 (shorter load phases, for CI), DRILL_KEEP_LOGS=1 (keep the
logs directory even when every check passes).
"""

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("TENANTGATE_BIN", os.path.join(ROOT, "target", "debug", "tenantgate"))
SERVER_URL = os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/postgres"
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379")
SHORT = os.environ.get("DRILL_SHORT") == "1"
LOAD_SECONDS = 3.0 if SHORT else 10.0
SECRET_KEY = "6f1d0c5e8a7b4c3d2e1f00112233445566778899aabbccddeeff001122334455"
JWT_SECRET = "drill-jwt-secret-0123456789-abcdefghijklmnop"
PASSWORD = "drill-Pw-correct-horse-battery"

RESULTS = []  # (what, expected, seen, ok)
PROCS = []  # every process started, stopped on exit


def check(what, expected, seen, ok):
    RESULTS.append((what, expected, str(seen), "pass" if ok else "FAIL"))


def skip(what, why):
    RESULTS.append((what, "-", why, "skipped"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def with_db(url, name, port=None):
    parts = urllib.parse.urlsplit(url)
    netloc = parts.netloc
    if port is not None:
        host = netloc.rsplit("@", 1)
        user = host[0] + "@" if len(host) == 2 else ""
        netloc = f"{user}127.0.0.1:{port}"
    return urllib.parse.urlunsplit((parts.scheme, netloc, "/" + name, parts.query, ""))


def wait_port(port, timeout=15.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def start(args, log_path, env=None, user=None):
    log = open(log_path, "ab")
    cmd = args if user is None else args[:1] + ["-u", user] + args[1:]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env,
                            start_new_session=True)
    PROCS.append(proc)
    return proc


def stop_all():
    for proc in PROCS:
        if proc.poll() is None:
            try:
                proc.kill()
            except OSError:
                pass
    for proc in PROCS:
        try:
            proc.wait(timeout=5)
        except Exception:
            pass


def request(port, method, path, body=None, headers=None, timeout=10.0):
    """(status, headers dict, parsed JSON or text); status 0 on a connection error."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        data = json.dumps(body).encode() if body is not None else None
        h = {"content-type": "application/json"} if data is not None else {}
        h.update(headers or {})
        conn.request(method, path, body=data, headers=h)
        resp = conn.getresponse()
        raw = resp.read()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode(errors="replace")
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, parsed
    except (OSError, http.client.HTTPException) as e:
        return 0, {}, str(e)
    finally:
        conn.close()


def bearer(token):
    return {"authorization": f"Bearer {token}"}


def until(predicate, timeout):
    """Seconds until `predicate()` holds, or None after `timeout`."""
    started = time.time()
    while time.time() - started < timeout:
        if predicate():
            return time.time() - started
        time.sleep(0.01)
    return None


class Fleet:
    def __init__(self, work):
        self.work = work
        self.db = "tenantgate_drill_" + uuid.uuid4().hex[:12]
        self.direct_url = with_db(SERVER_URL, self.db)
        self.bouncer_port = free_port()
        self.pooled_url = with_db(SERVER_URL, self.db, self.bouncer_port)
        self.ports = [free_port() for _ in range(3)]
        self.lb_port = free_port()
        self.replicas = [None, None, None]
        self.bouncer = None
        self.prefix = f"drill-{uuid.uuid4().hex[:8]}:"

    def env(self, port):
        env = {
            "PATH": os.environ.get("PATH", ""),
            "DATABASE_URL": self.pooled_url,
            "DATABASE_POOL_MODE": "transaction",
            "DATABASE_LISTEN_URL": self.direct_url,
            "DATABASE_POOL_SIZE": "5",
            "SECRET_KEY": SECRET_KEY,
            "JWT_SECRET_KEY": JWT_SECRET,
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "LOG_FORMAT": "json",
            "LOG_LEVEL": "info",
            "REDIS_URL": REDIS_URL,
            "REDIS_KEY_PREFIX": self.prefix,
            "USAGE_FLUSH_SECONDS": "1",
            "LOGIN_MAX_FAILURES": "1000",
            "TRUSTED_PROXY_HOPS": "1",
            # SIGTERM: /ready fails for a second while requests are still served, so haproxy
            # (fall 2 x inter 250ms) takes the replica out before it stops accepting.
            "SHUTDOWN_DRAIN_SECONDS": "1",
        }
        return env

    def psql(self, sql):
        subprocess.run(["psql", SERVER_URL, "-qAtc", sql], check=True,
                       stdout=subprocess.DEVNULL)

    def cli(self, args, stdin=""):
        return subprocess.run([BIN] + args, input=stdin.encode(), env=self.env(0),
                              capture_output=True, check=True).stdout.decode()

    def start_bouncer(self):
        ini = os.path.join(self.work, "pgbouncer.ini")
        if not os.path.exists(ini):
            server = urllib.parse.urlsplit(SERVER_URL)
            user = server.username or "postgres"
            with open(os.path.join(self.work, "users.txt"), "w") as f:
                f.write(f'"{user}" ""\n')
            with open(ini, "w") as f:
                f.write(
                    f"[databases]\n* = host={server.hostname or '127.0.0.1'} "
                    f"port={server.port or 5432}\n"
                    f"[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {self.bouncer_port}\n"
                    f"auth_type = trust\nauth_file = {self.work}/users.txt\n"
                    "pool_mode = transaction\ndefault_pool_size = 6\nmax_client_conn = 200\n"
                    "unix_socket_dir =\n"
                    "ignore_startup_parameters = extra_float_digits,options,application_name\n")
        user = "postgres" if os.geteuid() == 0 else None
        self.bouncer = start(["pgbouncer", ini], os.path.join(self.work, "pgbouncer.log"),
                             user=user)
        if not wait_port(self.bouncer_port):
            raise SystemExit("pgbouncer did not start")

    def start_replica(self, i):
        self.replicas[i] = start([BIN, "serve"], os.path.join(self.work, f"replica{i}.log"),
                                 env=self.env(self.ports[i]))

    def start_haproxy(self):
        servers = "\n".join(
            f"    server r{i} 127.0.0.1:{p} check inter 250ms fall 2 rise 2 "
            "observe layer4 error-limit 1 on-error mark-down"
            for i, p in enumerate(self.ports))
        cfg = os.path.join(self.work, "haproxy.cfg")
        with open(cfg, "w") as f:
            f.write(f"""global
    maxconn 512
    log stdout format raw local0
defaults
    mode http
    log global
    option httplog
    timeout connect 1s
    timeout check 2s
    timeout client 30s
    timeout server 30s
    retries 3
    option redispatch 1
    retry-on all-retryable-errors
    option http-buffer-request
frontend gateway
    bind 127.0.0.1:{self.lb_port}
    default_backend replicas
backend replicas
    balance roundrobin
    option httpchk GET /ready
{servers}
""")
        start(["haproxy", "-f", cfg, "-db"], os.path.join(self.work, "haproxy.log"))
        if not wait_port(self.lb_port):
            raise SystemExit("haproxy did not start")

    def all_ready(self, indices=(0, 1, 2)):
        return all(request(self.ports[i], "GET", "/ready", timeout=2)[0] == 200 for i in indices)


class Load:
    """`threads` clients looping GET /tenant, each request to the next of `ports` in turn (one
    port: haproxy; several: straight to replicas); counts answers and errors."""

    def __init__(self, ports, key, threads=4):
        self.ports, self.key, self.threads = ports, key, threads
        self.ok = 0
        self.errors = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.workers = [threading.Thread(target=self.run, args=(n,), daemon=True)
                        for n in range(threads)]

    def run(self, n):
        turn = n
        while not self.stop.is_set():
            port = self.ports[turn % len(self.ports)]
            turn += 1
            status, _, body = request(port, "GET", "/tenant", headers={"x-api-key": self.key})
            with self.lock:
                if status == 200:
                    self.ok += 1
                else:
                    self.errors.append((status, str(body)[:100]))

    def __enter__(self):
        for w in self.workers:
            w.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for w in self.workers:
            w.join()


def slow_request(port, path, body, headers, first_part_sent, release):
    """Sends a request whose body arrives in two parts; returns the status line."""
    data = json.dumps(body).encode()
    head = (f"POST {path} HTTP/1.1\r\nHost: drill\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\nConnection: close\r\n"
            + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(head + data[: len(data) // 2])
        first_part_sent.set()
        release.wait(10)
        s.sendall(data[len(data) // 2:])
        answer = b""
        while b"\r\n" not in answer:
            chunk = s.recv(4096)
            if not chunk:
                break
            answer += chunk
    return answer.split(b"\r\n", 1)[0].decode(errors="replace")


def drill(fleet):
    lb = fleet.lb_port
    fleet.psql(f"CREATE DATABASE {fleet.db}")
    subprocess.run([BIN, "migrate"], env=fleet.env(0), check=True, capture_output=True)
    fleet.start_bouncer()
    for i in range(3):
        fleet.start_replica(i)
    for p in fleet.ports:
        wait_port(p)
    fleet.start_haproxy()
    check("replicas ready behind haproxy", "3 of 3 within 15 s",
          "yes" if until(fleet.all_ready, 15) is not None else "no", fleet.all_ready())

    admin_email = f"admin-{uuid.uuid4().hex[:6]}@example.com"
    fleet.cli(["users", "create", "--email", admin_email, "--password-stdin", "--superuser"],
              PASSWORD)
    _, _, login = request(lb, "POST", "/auth/token", {"email": admin_email, "password": PASSWORD})
    admin = bearer(login["access_token"])
    for tenant in ["acme", "globex", "initech", "hooli"]:
        status, _, body = request(lb, "POST", "/admin/tenants",
                                  {"id": tenant, "name": tenant.title(), "retriever": "none"},
                                  admin)
        assert status == 201, body
    keys = {}
    for tenant in ["acme", "globex", "initech", "hooli"]:
        status, _, body = request(lb, "POST", f"/admin/tenants/{tenant}/api-keys",
                                  {"name": "drill"}, admin)
        assert status == 201, body
        keys[tenant] = body
    key = {t: k["key"] for t, k in keys.items()}
    # A tenant admin of acme, demoted below.
    staff_email = f"staff-{uuid.uuid4().hex[:6]}@example.com"
    status, _, staff = request(lb, "POST", "/admin/users",
                               {"email": staff_email, "password": PASSWORD, "tenant_id": "acme",
                                "role": "tenant_admin"}, admin)
    assert status == 201, staff
    _, _, login = request(lb, "POST", "/auth/token", {"email": staff_email, "password": PASSWORD})
    staff_token = bearer(login["access_token"])
    # Every replica has every tenant and credential cached before the changes below. `hooli`'s
    # answered requests are counted from here on for the usage check at the end.
    metered = 0
    for p in fleet.ports:
        for t in key:
            status = request(p, "GET", "/tenant", headers={"x-api-key": key[t]})[0]
            metered += t == "hooli" and status == 200
        request(p, "GET", "/tenant", headers=staff_token)

    # 1. Deactivate a tenant on replica 0: every replica refuses it within a second.
    status, _, _ = request(fleet.ports[0], "DELETE", "/admin/tenants/globex", headers=admin)
    delays = []
    for p in fleet.ports:
        delays.append(until(lambda p=p: request(p, "GET", "/tenant",
                                                headers={"x-api-key": key["globex"]})[0] == 403,
                            3))
    worst = max((d if d is not None else 99) for d in delays)
    check("tenant deactivated on one replica", "403 on all 3 within 1 s",
          f"slowest {worst * 1000:.0f} ms", status == 200 and worst < 1)

    # 2. Revoke an API key on replica 1: refused everywhere within a second.
    status, _, _ = request(fleet.ports[1], "DELETE",
                           f"/admin/tenants/initech/api-keys/{keys['initech']['id']}",
                           headers=admin)
    delays = [until(lambda p=p: request(p, "GET", "/tenant",
                                        headers={"x-api-key": key["initech"]})[0] == 401, 3)
              for p in fleet.ports]
    worst = max((d if d is not None else 99) for d in delays)
    check("API key revoked on one replica", "401 on all 3 within 1 s",
          f"slowest {worst * 1000:.0f} ms", status in (200, 204) and worst < 1)

    # 3. Demote a user on replica 2: their tokens are refused everywhere within a second.
    before = [request(p, "GET", "/tenant", headers=staff_token)[0] for p in fleet.ports]
    status, _, _ = request(fleet.ports[2], "PATCH", f"/admin/users/{staff['id']}",
                           {"role": "member"}, admin)
    delays = [until(lambda p=p: request(p, "GET", "/tenant", headers=staff_token)[0] == 401, 3)
              for p in fleet.ports]
    worst = max((d if d is not None else 99) for d in delays)
    check("user demoted on one replica", "their token 401 on all 3 within 1 s",
          f"slowest {worst * 1000:.0f} ms",
          before == [200, 200, 200] and status == 200 and worst < 1)

    # 4. A tenant's request limit is honoured once for the whole fleet (shared in Redis).
    limit = 30
    status, _, body = request(lb, "PATCH", "/admin/tenants/acme",
                              {"requests_per_minute": limit}, admin)
    if status != 200:
        skip("request limit for the fleet", f"skipped: PATCH requests_per_minute gave {status}")
    else:
        time.sleep(1.0)  # the change reaches every replica's cache
        # The window is a sliding-window counter over fixed minutes (src/limits/window.rs): a
        # burst that straddles a minute boundary weighs the previous minute's requests by a
        # fraction rounded down, so one more can pass. Start the burst clear of a boundary.
        into_minute = time.time() % 60
        if into_minute > 55:
            time.sleep(60.5 - into_minute)
        answers = [request(lb, "GET", "/tenant", headers={"x-api-key": key["acme"]})
                   for _ in range(limit * 2)]
        ok = sum(1 for s, _, _ in answers if s == 200)
        limited = sum(1 for s, h, _ in answers if s == 429 and "retry-after" in h)
        check("request limit for the fleet", f"{limit} answered, {limit} refused 429",
              f"{ok} answered, {limited} refused", ok == limit and limited == limit)
        request(lb, "PATCH", "/admin/tenants/acme", {"requests_per_minute": None}, admin)
        time.sleep(1.0)

    # 5. PgBouncer restarts: the replicas recover by themselves.
    fleet.bouncer.kill()
    fleet.bouncer.wait()
    time.sleep(0.5)
    fleet.start_bouncer()
    def fresh_reads_everywhere():
        return all(request(p, "GET", "/admin/tenants", headers=admin, timeout=3)[0] == 200
                   for p in fleet.ports)
    recovered = until(fresh_reads_everywhere, 15)
    check("PgBouncer restarted", "all 3 replicas read again within 15 s",
          "never" if recovered is None else f"after {recovered:.1f} s", recovered is not None)
    # /ready answered 503 meanwhile, so haproxy took them out: wait until it has all three
    # back (rise 2 x inter 250ms each) before the next phase counts errors. A fixed sleep was
    # not enough once the phases ran faster: 12 answers in a row through haproxy's
    # round-robin means every server is in again.
    def balanced_again():
        return all(request(fleet.lb_port, "GET", "/ready", timeout=2)[0] == 200
                   for _ in range(12))
    until(balanced_again, 15)
    time.sleep(0.5)

    # 6. SIGKILL one replica and SIGTERM another mid-load: haproxy routes around them; the
    #    SIGTERM'd one finishes its in-flight request and exits cleanly.
    first_part, release = threading.Event(), threading.Event()
    in_flight = {}
    slow = threading.Thread(target=lambda: in_flight.setdefault("status", slow_request(
        fleet.ports[1], "/admin/tenants", {"id": "umbrella", "name": "Umbrella"},
        admin, first_part, release)))
    threads = 4
    # Beside the load through haproxy, `hooli` loads the replica that survives and the one that
    # is SIGTERM'd, straight: every answer it gets must be in the usage table at the end.
    with Load([lb], key["acme"], threads) as load, \
            Load([fleet.ports[0], fleet.ports[1]], key["hooli"], 2) as hooli:
        time.sleep(LOAD_SECONDS / 3)
        fleet.replicas[2].send_signal(signal.SIGKILL)
        slow.start()
        first_part.wait(5)
        time.sleep(0.2)
        fleet.replicas[1].send_signal(signal.SIGTERM)
        time.sleep(0.5)
        release.set()
        time.sleep(LOAD_SECONDS * 2 / 3)
    slow.join(10)
    try:
        term_rc = fleet.replicas[1].wait(timeout=10)
    except subprocess.TimeoutExpired:
        term_rc = "still running"
    check("load through SIGKILL + SIGTERM", f"errors <= {threads} (in flight on the killed one)",
          f"{load.ok} answered, {len(load.errors)} errors {[e[0] for e in load.errors[:4]]}",
          load.ok > 0 and len(load.errors) <= threads)
    check("in-flight request on the SIGTERM'd replica", "answered 201",
          in_flight.get("status", "no answer"), "201" in in_flight.get("status", ""))
    check("SIGTERM'd replica exits", "exit code 0", term_rc, term_rc == 0)
    # The last time haproxy took replica 1 out (the PgBouncer restart took it out before): by
    # its failing /ready ("Layer7 wrong status"), not by a refused connection.
    with open(os.path.join(fleet.work, "haproxy.log"), errors="replace") as f:
        downs = [line.split("reason: ", 1)[-1].split(",")[0] for line in f
                 if line.startswith("Server replicas/r1 is DOWN")]
    check("SIGTERM'd replica taken out by its /ready", "haproxy: Layer7 wrong status",
          downs[-1] if downs else "never marked down",
          bool(downs) and downs[-1].startswith("Layer7 wrong status"))

    # 7. Usage totals equal the requests answered: `hooli`'s answers went to replica 0 (alive,
    #    flushes when the usage route is read) and replica 1 (SIGTERM'd, flushed on exit).
    #    Replica 2's counts since its last flush die with it (SIGKILL), so no tenant's load there
    #    is compared.
    answered = metered + hooli.ok
    status, _, body = request(fleet.ports[0], "GET", "/admin/tenants/hooli/usage", headers=admin)
    counted = body["totals"]["requests"] if status == 200 else f"status {status}"
    check("usage totals equal answered requests", "usage requests == answered",
          f"{counted} counted, {answered} answered", counted == answered)


def main():
    if not os.path.exists(BIN):
        print(f"drill: {BIN} not found; run cargo build first", file=sys.stderr)
        return 2
    for tool in ["pgbouncer", "haproxy", "psql"]:
        if shutil.which(tool) is None:
            print(f"drill: {tool} is not installed (apt-get install {tool})", file=sys.stderr)
            return 2
    work = tempfile.mkdtemp(prefix="tenantgate-drill-")
    os.chmod(work, 0o777)
    fleet = Fleet(work)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.time()
    failed = False
    try:
        drill(fleet)
    except (Exception, SystemExit) as e:
        failed = True
        print(f"drill: aborted: {e!r}; logs in {work}", file=sys.stderr)
        RESULTS.append(("drill ran to the end", "yes", repr(e)[:80], "FAIL"))
    finally:
        stop_all()
        try:
            fleet.psql(f"DROP DATABASE IF EXISTS {fleet.db} WITH (FORCE)")
        except Exception:
            pass
    widths = [max(len(r[i]) for r in RESULTS + [("check", "expected", "seen", "result")])
              for i in range(4)]
    line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths))
    print(line(("check", "expected", "seen", "result")))
    print(line(tuple("-" * w for w in widths)))
    for r in RESULTS:
        print(line(r))
    print(f"\ndrill took {time.time() - started:.1f} s")
    failed = failed or any(r[3] == "FAIL" for r in RESULTS)
    if not failed and os.environ.get("DRILL_KEEP_LOGS") != "1":
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"logs kept in {work}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

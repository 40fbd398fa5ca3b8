"""The dashboard benchmark (issue 6): every list page and API call of the dashboard under
wrk, over the data set of dashboard_data.sql (1,000,000 orders, 5,000,000 notes), and the
time from a database change to the live-update event. Prints figures; asserts nothing.

Beside each figure, the floor measured in the same run: GET /api/v1/me (the session check
every API call makes, and one small query) and a static file (the HTTP server alone).

Run by tests/bench/dashboard_run (which brings up its own stack and loads the data):
  python3 tests/bench/dashboard_bench.py [--seconds S] [--connections C] [--skip-load]
Environment: DATABASE_URL, ORDERFLOW_BUILD_DIR (build)."""
import argparse
import json
import os
import random
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.join(REPO, os.environ.get("ORDERFLOW_BUILD_DIR", "build"))
DASHBOARD = os.path.join(BUILD, "services", "dashboard", "orderflow-dashboard")
ADMIN = os.path.join(BUILD, "services", "admin", "orderflow-admin")
DATABASE_URL = os.environ["DATABASE_URL"]
USER, PASSWORD = "bench主管", "bench-password-1"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def psql(sql, *args):
    cmd = ["psql", DATABASE_URL, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1"]
    for i, a in enumerate(args):
        cmd += ["-v", f"p{i}={a}"]
    # from stdin: psql interpolates :'p0' there, not in -c
    return subprocess.run(cmd + ["-f", "-"], input=sql, check=True, capture_output=True,
                          text=True).stdout.strip()


class Client:
    def __init__(self, base):
        self.base = base
        self.cookie = ""

    def call(self, method, path, body=None, csrf=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if self.cookie:
            req.add_header("Cookie", self.cookie)
        if csrf:
            req.add_header("X-CSRF-Token", csrf)
        with urllib.request.urlopen(req, timeout=30) as r:
            cookie = r.headers.get("Set-Cookie")
            if cookie:
                self.cookie = cookie.split(";", 1)[0]
            text = r.read().decode()
            return json.loads(text) if text else None

    def login(self):
        return self.call("POST", "/api/v1/login", {"name": USER, "password": PASSWORD})


def pages_deep(client, path, n):
    """The path of page n of a list (following next_cursor), to measure a deep page."""
    cursor = None
    for _ in range(n):
        sep = "&" if "?" in path else "?"
        got = client.call("GET", path + (f"{sep}cursor={urllib.parse.quote(cursor)}"
                                         if cursor else ""))
        cursor = got.get("next_cursor")
        if not cursor:
            break
    if not cursor:
        return path
    sep = "&" if "?" in path else "?"
    return f"{path}{sep}cursor={urllib.parse.quote(cursor)}"


def wrk(base, cookie, paths, seconds, connections):
    env = dict(os.environ, OF_COOKIE=cookie, OF_PATHS="\n".join(paths))
    out = subprocess.run(["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s",
                          "-s", os.path.join(REPO, "tests", "bench", "dashboard_wrk.lua"),
                          base], env=env, capture_output=True, text=True, check=True).stdout
    m = re.search(r"^RESULT (\S+) (\S+) (\S+) (\S+) (\S+) (\S+) (\S+)$", out, re.M)
    if not m:
        raise RuntimeError("wrk printed no RESULT line:\n" + out)
    n, bad, sock, p50, p99, mx, rps = m.groups()
    return dict(requests=int(n), non2xx=int(bad), socket_errors=int(sock), p50=float(p50),
                p99=float(p99), max=float(mx), rps=float(rps))


def live_latency(base, cookie, trials):
    """Seconds from an INSERT of an alert (committed) to the `alerts` event on /live."""
    req = urllib.request.Request(base + "/api/v1/live", headers={"Cookie": cookie})
    stream = urllib.request.urlopen(req, timeout=30)
    events = []
    lock = threading.Condition()

    def reader():
        try:
            for raw in stream:
                line = raw.decode().strip()
                if line.startswith("event:"):
                    with lock:
                        events.append((line.split(":", 1)[1].strip(), time.monotonic()))
                        lock.notify_all()
        except Exception:  # the stream is closed at the end
            pass

    threading.Thread(target=reader, daemon=True).start()
    time.sleep(1.5)  # the first snapshot
    got = []
    for i in range(trials):
        with lock:
            events.clear()
        t0 = time.monotonic()
        psql("INSERT INTO alerts (kind, rule, subject_id, reason, payload) "
             "VALUES ('breach', 'T1', 'bench-live-' || :'p0', 'bench', '{}')",
             f"{os.getpid()}-{i}-{time.time_ns()}")
        t_commit = time.monotonic()
        with lock:
            lock.wait_for(lambda: any(e[0] == "alerts" for e in events), timeout=5)
            at = next((e[1] for e in events if e[0] == "alerts"), None)
        got.append((at - t_commit) if at else None)
        time.sleep(random.uniform(0.2, 0.6))
    stream.close()
    return got


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--connections", type=int, default=4)
    args = ap.parse_args()

    subprocess.run([ADMIN, "user", USER, "supervisor"], input=PASSWORD + "\n", text=True,
                   check=True, capture_output=True)
    port = free_port()
    log = open(os.path.join(REPO, "tests", "artifacts", "bench-dashboard.log"), "w")
    env = dict(os.environ, DASHBOARD_PORT=str(port), HTTP_PORT="0", LOG_LEVEL="warn")
    proc = subprocess.Popen([DASHBOARD], env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/", timeout=1).read()
                break
            except OSError:
                time.sleep(0.1)
        client = Client(base)
        client.login()
        counts = {t: psql(f"SELECT count(*) FROM {t}") for t in
                  ("orders", "order_notes", "tasks", "dead_letters", "remittances")}
        print("data: " + ", ".join(f"{k} {int(v):,}" for k, v in counts.items()))

        norders = int(counts["orders"])
        rnd = random.Random(7)
        order_ids = [f"bo-{rnd.randint(1, norders)}" for _ in range(300)]
        buyers = [f"buyer{rnd.randint(0, 99999)}" for _ in range(300)]
        day = psql("SELECT day FROM remittances GROUP BY day ORDER BY count(*) DESC LIMIT 1")
        cases = [
            ("floor: static index.html", ["/"]),
            ("floor: GET /me (session check)", ["/api/v1/me"]),
            ("orders, first page", ["/api/v1/orders"]),
            ("orders, by state", [f"/api/v1/orders?state={s}" for s in
                                  ("unpaid", "paid", "printed", "shipped")]),
            ("orders, by shop", [f"/api/v1/orders?shop_id=shop{i}" for i in range(50)]),
            ("orders, by buyer", [f"/api/v1/orders?buyer_id={b}" for b in buyers]),
            ("orders, by order id", [f"/api/v1/orders?order_id={o}" for o in order_ids]),
            ("orders, page 20", [pages_deep(client, "/api/v1/orders", 20)]),
            ("order page (order + notes + tasks)", [f"/api/v1/orders/{o}" for o in order_ids]),
            ("tasks, mine open", ["/api/v1/tasks"]),
            ("tasks, all", ["/api/v1/tasks?mine=false&status=all"]),
            ("recharges", ["/api/v1/recharges", "/api/v1/recharges?state=suspended"]),
            ("recharge desk", ["/api/v1/desk"]),
            ("breaches", ["/api/v1/breaches", "/api/v1/breaches?rule=T1"]),
            ("alerts", ["/api/v1/alerts", "/api/v1/alerts?rule=M3"]),
            ("dead letters", ["/api/v1/dead-letters", "/api/v1/dead-letters?type=order.paid"]),
            ("remittances", ["/api/v1/remittances", "/api/v1/remittances?state=notified"]),
            ("remittance days", ["/api/v1/remittance-days"]),
            ("remittance day rows", [f"/api/v1/remittance-days/{day}"]),
            ("refund registrations", ["/api/v1/refund-registrations"]),
            ("balance ledger, by buyer", [f"/api/v1/balance-ledger?buyer_id={b}"
                                          for b in buyers]),
            ("recharge daily", ["/api/v1/recharge-daily"]),
            ("audit log", ["/api/v1/audit"]),
        ]
        print(f"\nwrk: {args.connections} connections, 2 threads, {args.seconds} s per line; "
              "latency in ms")
        print(f"{'endpoint':40} {'req/s':>8} {'p50':>8} {'p99':>8} {'max':>8} {'non-2xx':>8}")
        worst = 0.0
        for name, paths in cases:
            r = wrk(base, client.cookie, paths, args.seconds, args.connections)
            if not name.startswith("floor"):
                worst = max(worst, r["p99"])
            flag = "" if r["non2xx"] == 0 and r["socket_errors"] == 0 else "  <-- errors"
            print(f"{name:40} {r['rps']:8.0f} {r['p50']:8.2f} {r['p99']:8.2f} {r['max']:8.2f} "
                  f"{r['non2xx']:8d}{flag}", flush=True)
        print(f"\nworst p99 of the list pages and API calls: {worst:.2f} ms (target <= 100 ms)")

        lat = live_latency(base, client.cookie, 20)
        ok = sorted(x for x in lat if x is not None)
        missed = sum(1 for x in lat if x is None)
        if ok:
            print(f"live updates (alert committed -> SSE event), {len(lat)} trials: "
                  f"p50 {ok[len(ok) // 2] * 1000:.0f} ms, max {ok[-1] * 1000:.0f} ms, "
                  f"missed {missed} (target: within 1 s)")
        else:
            print(f"live updates: no event arrived in {len(lat)} trials")
        with open("/proc/%d/status" % proc.pid) as f:
            rss = next(line for line in f if line.startswith("VmHWM"))
        print("dashboard peak RSS: " + rss.split(":", 1)[1].strip())
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())

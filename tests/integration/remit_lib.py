"""Helpers of the remittance and sweeper tests (test_remittance.py, test_sweeper.py): the
services as subprocesses (order-worker, remittance-worker, sweeper), remittance events with
back-dated times, the staff roster and the CSV export through orderflow-admin, the outcome
of an event (applied, or its dead letter's reason), the ops.alerts topic, and a webhook
receiver run as a subprocess of its own (this file, run as a script:
`python3 remit_lib.py webhook --port N --log FILE [--fail PREFIX:K] [--hang PREFIX:S]`).
"""
import datetime
import json
import os
import sys
import time

# ---------------------------------------------------------------------------------------
# the webhook receiver (script mode): records every POST as one JSON line
# ---------------------------------------------------------------------------------------


def _webhook_main(argv):
    import argparse
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    ap = argparse.ArgumentParser(prog="remit_lib.py webhook")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--fail", action="append", default=[],
                    help="PREFIX:K — answer 503 to the first K POSTs of each subject_id "
                         "starting with PREFIX")
    ap.add_argument("--hang", action="append", default=[],
                    help="PREFIX:S — hold the first POST of each subject_id starting with "
                         "PREFIX for S seconds before answering 200")
    a = ap.parse_args(argv)
    fail = [(p, int(k)) for p, k in (x.rsplit(":", 1) for x in a.fail)]
    hang = [(p, float(s)) for p, s in (x.rsplit(":", 1) for x in a.hang)]
    seen = {}
    lock = threading.Lock()
    log = open(a.log, "a", encoding="utf-8")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(n)
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode("utf-8", "replace")
            subject = body.get("subject_id", "") if isinstance(body, dict) else ""
            with lock:
                k = seen[subject] = seen.get(subject, 0) + 1
                status, delay = 200, 0.0
                for p, cnt in fail:
                    if subject.startswith(p) and k <= cnt:
                        status = 503
                for p, s in hang:
                    if subject.startswith(p) and k == 1:
                        delay = s
                log.write(json.dumps({"t": time.time(), "status": status, "n": k,
                                      "content_type": self.headers.get("Content-Type"),
                                      "body": body}, ensure_ascii=False) + "\n")
                log.flush()
            if delay:
                time.sleep(delay)
            out = b'{"ok":true}' if status == 200 else b'{"error":"unavailable"}'
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)
            except OSError:
                pass  # the client went away (killed while we held the answer)

    srv = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    srv.daemon_threads = True
    srv.serve_forever()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "webhook":
        _webhook_main(sys.argv[2:])
        sys.exit(0)
    sys.exit("usage: remit_lib.py webhook --port N --log FILE [--fail PREFIX:K] "
             "[--hang PREFIX:S]")

# ---------------------------------------------------------------------------------------
# test side
# ---------------------------------------------------------------------------------------

import re  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import uuid  # noqa: E402
from zoneinfo import ZoneInfo  # noqa: E402

import pytest  # noqa: E402

from conftest import (ARTIFACTS, BUILD_DIR, Worker, end_offsets, free_port,  # noqa: E402
                      read_topic, wait_until, worker_env)

TOPIC_REMITTANCES = "shop.remittances"
TOPIC_ALERTS = "ops.alerts"
SHOP_TZ = ZoneInfo(os.environ.get("SHOP_TZ") or "Asia/Shanghai")
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
ADMIN_BIN = os.path.join(BUILD_DIR, "services", "admin", "orderflow-admin")

M1_NOTE = "銀行匯款訂單,待匯款,已通知登記+{staff}+{date}"


def service_bin(name):
    return os.path.join(BUILD_DIR, "services", name, f"orderflow-{name}")


# ---------------------------------------------------------------------------------------
# time
# ---------------------------------------------------------------------------------------

def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def iso(dt):
    """RFC 3339 with seconds and an explicit offset, as events carry it."""
    return dt.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def ago(days=0, hours=0, minutes=0):
    return utcnow() - datetime.timedelta(days=days, hours=hours, minutes=minutes)


def shop_date(dt):
    """The shop's day (SHOP_TZ) of an instant: the {date} of notes and the record's day."""
    return dt.astimezone(SHOP_TZ).date()


def shop_time(day, hh, mm=0):
    """The instant of a wall-clock time on a shop day."""
    return datetime.datetime(day.year, day.month, day.day, hh, mm, tzinfo=SHOP_TZ)


# ---------------------------------------------------------------------------------------
# services as subprocesses
# ---------------------------------------------------------------------------------------

class Service(Worker):
    """One orderflow service process (order-worker, remittance-worker, sweeper)."""

    def __init__(self, name, group, log_path, env):
        super().__init__(group, log_path, env)
        self.name = name
        self.bin = service_bin(name)

    def start(self):
        assert os.access(self.bin, os.X_OK), f"{self.bin} is not built (cmake --build build)"
        with open(self.log_path, "ab") as log:
            log.write(f"--- start {self.name} (group {self.group}, port {self.port})\n".encode())
            log.flush()
            self.proc = subprocess.Popen([self.bin], env=self.env, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log, start_new_session=True)
        self.returncode = None
        return self

    def check_running(self, when=""):
        if not self.alive():
            raise AssertionError(f"{self.name} (pid {self.proc.pid}) exited with "
                                 f"{self.proc.returncode} {when}; log {self.log_path}:\n"
                                 f"{self.log_tail()}")

    def wait_ready(self, timeout=60):
        def ready():
            self.check_running("while starting")
            return self.get("/readyz")[0] == 200
        wait_until(ready, timeout, f"{self.name} /readyz on port {self.port}")
        return self

    def cycles(self):
        """Sweeps completed so far (the sweeper's cycle histogram's count)."""
        return self.metric("orderflow_sweep_cycle_seconds_count") or 0


class Services:
    """Starts services for one test or one module; logs in ARTIFACTS/<name>/; whatever still
    runs at the end is stopped (SIGTERM, then SIGKILL)."""

    def __init__(self, name):
        self.dir = os.path.join(ARTIFACTS, re.sub(r"[^A-Za-z0-9_.-]", "_", name))
        os.makedirs(self.dir, exist_ok=True)
        self.tag = f"it-{uuid.uuid4().hex[:8]}-{name[:40]}"
        self.made = []

    def new(self, name, group=None, **extra):
        n = len(self.made) + 1
        g = group or f"{self.tag}-{name}-{n}"
        env = worker_env(g, free_port(), **extra)
        s = Service(name, g, os.path.join(self.dir, f"{n}-{name}.log"), env)
        self.made.append(s)
        return s

    def start(self, name, **extra):
        return self.new(name, **extra).start().wait_ready()

    def sweeper(self, **extra):
        """A sweeper with a short cycle (SWEEP_INTERVAL_MS 200 unless given)."""
        extra.setdefault("SWEEP_INTERVAL_MS", 200)
        extra.setdefault("OPS_WEBHOOK_URL", "")
        return self.start("sweeper", **extra)

    def close(self, failed=False):
        for s in self.made:
            if s.alive():
                try:
                    s.stop(30)
                except AssertionError:
                    pass
        if failed:
            for s in self.made:
                print(f"\n----- {s.log_path} (last lines) -----\n{s.log_tail()}")


@pytest.fixture(scope="module")
def pipeline(request):
    """One order-worker and one remittance-worker for the whole module (each in a consumer
    group of its own): every test scopes its assertions to its own ids."""
    svc = Services(request.module.__name__)
    p = type("Pipeline", (), {})()
    p.services = svc
    p.orders = svc.start("order-worker")
    p.remittances = svc.start("remittance-worker")
    p.running = (p.orders, p.remittances)
    yield p
    svc.close(failed=request.session.testsfailed > 0)


@pytest.fixture
def services(request):
    svc = Services(request.node.name)
    yield svc
    rep = getattr(request.node, "rep_call", None)
    svc.close(failed=bool(rep and rep.failed))


# ---------------------------------------------------------------------------------------
# ids and events
# ---------------------------------------------------------------------------------------

def _load(prefix):
    out = {}
    d = os.path.join(REPO, "tests", "events", "valid")
    for f in sorted(os.listdir(d)):
        if f.startswith(prefix) and f.endswith(".json"):
            with open(os.path.join(d, f), encoding="utf-8") as fh:
                out[f[:-5]] = json.load(fh)
    return out


EXAMPLES = {**_load("order."), **_load("remittance.")}


class RIds:
    """Ids of one test: a shop (event source), remittances, shop orders, buyers and staff
    names of its own. Staff and buyer names carry Chinese text on purpose (UTF-8 end to
    end)."""

    def __init__(self, tag):
        tag = re.sub(r"[^a-z0-9]", "", tag.lower())[:14]
        self.run = uuid.uuid4().hex[:8]
        self.prefix = f"it-{tag}-{self.run}"
        self.shop = self.prefix
        self.source = f"shop/{self.shop}"
        self._n = 0
        self._ev = 0

    def _next(self):
        self._n += 1
        return self._n

    def remit(self):
        return f"{self.prefix}-r{self._next()}"

    def order(self):
        return f"{self.prefix}-o{self._next()}"

    def buyer(self):
        return f"買家{self.run}-{self._next()}"

    def staff(self, base="小美"):
        return f"{base}{self.run}{self._next()}"

    def event(self, etype, subject, data, *, at=None, event_id=None, example=None):
        """A CloudEvents event of etype: the example's data with `data` merged over it."""
        ex = EXAMPLES[example or etype]
        self._ev += 1
        d = json.loads(json.dumps(ex["data"]))
        d.update(data)
        d = {k: v for k, v in d.items() if v is not None}
        return {"specversion": "1.0", "id": event_id or f"{subject}-{etype}-{self._ev}",
                "source": self.source, "type": etype, "time": iso(at or utcnow()),
                "subject": subject, "datacontenttype": "application/json", "data": d}

    # shop.orders
    def created(self, order_id, buyer, items, *, at=None, total="129.00"):
        return self.event("order.created", order_id,
                          {"order_id": order_id, "shop_id": self.shop, "buyer_id": buyer,
                           "items": items, "total": total, "postage": "0.00",
                           "auction": False}, at=at)

    def paid(self, order_id, amount="129.00", *, at=None):
        return self.event("order.paid", order_id, {"order_id": order_id, "amount": amount,
                                                   "method": "alipay"}, at=at)

    def order_event(self, etype, order_id, *, at=None, **data):
        return self.event(etype, order_id, {"order_id": order_id, **data}, at=at)

    # shop.remittances
    def ordered(self, remit_id, buyer, staff, items, *, placed=False, shop_order_id=None,
                address="廣東省廣州市天河區體育西路1號 李小姐 13900139000", overseas=None, at=None):
        return self.event("remittance.ordered", remit_id,
                          {"remit_id": remit_id, "buyer_id": buyer, "placed_on_shop": placed,
                           "shop_order_id": shop_order_id, "items": items, "address": address,
                           "staff": staff, "overseas": overseas}, at=at)

    def notified(self, remit_id, buyer, staff, amount, *, remitted_on=None, at=None):
        at = at or utcnow()
        return self.event("remittance.notified", remit_id,
                          {"remit_id": remit_id, "buyer_id": buyer, "amount": amount,
                           "staff": staff,
                           "remitted_on": str(remitted_on or shop_date(at))}, at=at)

    def verified(self, remit_id, supervisor, amount, *, at=None):
        return self.event("remittance.verified", remit_id,
                          {"remit_id": remit_id, "supervisor": supervisor, "amount": amount},
                          at=at)

    def shipped(self, remit_id, staff, waybill="SF1002003004005", *, at=None):
        return self.event("remittance.shipped", remit_id,
                          {"remit_id": remit_id, "waybill_no": waybill, "staff": staff}, at=at)

    def reviewed(self, day, supervisor, *, at=None):
        return self.event("remittance.reviewed", str(day),
                          {"day": str(day), "supervisor": supervisor}, at=at)


@pytest.fixture
def rids(request):
    return RIds(request.node.name.replace("test_", ""))


def items(*pairs):
    """[{sku, size?, qty, unit_price}] from (sku, qty[, size]) tuples."""
    out = []
    for p in pairs:
        it = {"sku": p[0], "qty": p[1], "unit_price": "10.00"}
        if len(p) > 2:
            it["size"] = p[2]
        out.append(it)
    return out


def publish(publisher, *events):
    """Publishes events in order (each on its type's topic, keyed by subject); returns the
    Sent records once Kafka has them."""
    for ev in events:
        topic = TOPIC_REMITTANCES if ev["type"].startswith("remittance.") else "shop.orders"
        publisher.structured(ev, topic=topic)
    return publisher.flush()


# ---------------------------------------------------------------------------------------
# outcomes
# ---------------------------------------------------------------------------------------

def outcomes(db, events):
    """{event id: ("applied", None) | ("rejected", reason)} of the events handled so far."""
    if not events:
        return {}
    source = events[0]["source"]
    ids_ = [e["id"] for e in events]
    out = {i: ("applied", None) for (i,) in db.all(
        "SELECT id FROM applied_events WHERE source = %s AND id = ANY(%s)", (source, ids_))}
    for i, reason in db.all("SELECT event_id, reason FROM dead_letters_v WHERE event_source = %s "
                            "AND event_id = ANY(%s) ORDER BY dl_id", (source, ids_)):
        out.setdefault(i, ("rejected", reason))
    return out


def settle(db, events, running=(), timeout=60):
    """Waits until every event is applied or rejected; returns outcomes()."""
    want = {e["id"] for e in events}

    def done():
        o = outcomes(db, events)
        return o if want <= set(o) else None
    return wait_until(done, timeout, f"{len(want)} event(s) to be applied or rejected",
                      interval=0.1, running=running)


def send(db, publisher, pipeline, *events, timeout=60):
    """Publishes and waits for the events' outcomes."""
    publish(publisher, *events)
    return settle(db, list(events), running=pipeline.running, timeout=timeout)


def assert_applied(out, *events):
    bad = {e["id"]: out.get(e["id"]) for e in events if out.get(e["id"], ("?",))[0] != "applied"}
    assert not bad, f"event(s) not applied: {bad}"


def assert_rejected(out, ev, *needles):
    got = out.get(ev["id"])
    assert got and got[0] == "rejected", f"{ev['type']} {ev['id']} should be rejected: {got}"
    for n in needles:
        assert n in got[1], f"reason of {ev['type']} should mention {n!r}: {got[1]!r}"
    return got[1]


def remittance(db, remit_id):
    """The remittance's remittances_v row as a dict (None when unknown)."""
    rows = db.all("SELECT row_to_json(r)::text FROM remittances_v r WHERE remit_id = %s",
                  (remit_id,))
    return json.loads(rows[0][0]) if rows else None


def order_row(db, order_id):
    rows = db.all("SELECT row_to_json(o)::text FROM orders o WHERE order_id = %s", (order_id,))
    return json.loads(rows[0][0]) if rows else None


def notes(db, order_id):
    return db.all("SELECT code, author, rendered FROM order_notes_v WHERE order_id = %s "
                  "ORDER BY seq", (order_id,))


# ---------------------------------------------------------------------------------------
# orderflow-admin
# ---------------------------------------------------------------------------------------

def admin(*args, check=True):
    assert os.access(ADMIN_BIN, os.X_OK), f"{ADMIN_BIN} is not built"
    env = worker_env("admin", 0)
    r = subprocess.run([ADMIN_BIN, *args], env=env, capture_output=True, timeout=60)
    if check:
        assert r.returncode == 0, (f"orderflow-admin {' '.join(args)} exited {r.returncode}: "
                                   f"{r.stderr.decode(errors='replace')}")
    return r


def add_staff(name, role):
    admin("staff", name, role)
    return name


# ---------------------------------------------------------------------------------------
# ops.alerts and the webhook receiver
# ---------------------------------------------------------------------------------------

class AlertTopic:
    """ops.alerts from the end offsets at creation: messages of given subjects."""

    def __init__(self):
        self.start = end_offsets(TOPIC_ALERTS)

    def read(self, subjects, want=None, timeout=30):
        """{subject: [payload dict, ...]} of messages about `subjects`; reads until
        want(result) is truthy (default: every subject seen) or timeout."""
        subjects = set(subjects)
        want = want or (lambda res: subjects <= set(res))

        def collect(msgs):
            res = {}
            for m in msgs:
                try:
                    v = json.loads(m.value())
                except ValueError:
                    continue
                if v.get("subject_id") in subjects:
                    res.setdefault(v["subject_id"], []).append(v)
            return res
        msgs = read_topic(TOPIC_ALERTS, self.start, lambda ms: want(collect(ms)), timeout)
        return collect(msgs)


class Webhook:
    """The webhook receiver subprocess (this file in script mode) on a port of its own."""

    def __init__(self, log_dir, port=None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}/hooks/ops"
        self.log = os.path.join(log_dir, f"webhook-{self.port}.jsonl")
        self.proc = None
        open(self.log, "w").close()

    def start(self, fail=(), hang=()):
        args = [sys.executable, os.path.abspath(__file__), "webhook", "--port", str(self.port),
                "--log", self.log]
        for f in fail:
            args += ["--fail", f]
        for h in hang:
            args += ["--hang", h]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, start_new_session=True)

        def up():
            assert self.proc.poll() is None, f"webhook receiver exited {self.proc.returncode}"
            with socket.socket() as s:
                s.settimeout(0.5)
                return s.connect_ex(("127.0.0.1", self.port)) == 0
        wait_until(up, 15, f"webhook receiver on port {self.port}")
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def records(self, prefix="", subject=None):
        """The POSTs received (each {t, status, n, content_type, body}) about subjects
        starting with prefix, or about exactly `subject`."""
        out = []
        with open(self.log, encoding="utf-8") as f:
            for line in f:
                r = json.loads(line)
                b = r["body"]
                s = str(b.get("subject_id", "")) if isinstance(b, dict) else None
                if s is not None and (s == subject if subject else s.startswith(prefix)):
                    out.append(r)
        return out

    def delivered(self, prefix=""):
        """{subject: number of POSTs answered 200}."""
        out = {}
        for r in self.records(prefix):
            if r["status"] == 200:
                s = r["body"]["subject_id"]
                out[s] = out.get(s, 0) + 1
        return out


@pytest.fixture
def webhook(services):
    hooks = []

    def make(port=None):
        w = Webhook(services.dir, port)
        hooks.append(w)
        return w
    yield make
    for w in hooks:
        w.stop()


def alert_rows(db, prefix):
    """alerts_v rows of this test's subjects: {(rule, subject): row dict}."""
    rows = db.all("SELECT row_to_json(a)::text FROM alerts_v a WHERE subject_id LIKE %s",
                  (prefix + "%",))
    return [json.loads(r[0]) for r in rows]


def breach_rows(db, prefix):
    rows = db.all("SELECT row_to_json(b)::text FROM breaches_v b WHERE subject_id LIKE %s",
                  (prefix + "%",))
    return [json.loads(r[0]) for r in rows]



def free_day(db):
    """A past shop day with no remittance and no review yet (M7/M8 tests own their day)."""
    import random
    rng = random.Random()
    while True:
        d = datetime.date(2005, 1, 1) + datetime.timedelta(days=rng.randrange(6000))
        if not db.scalar("SELECT EXISTS (SELECT 1 FROM remittances WHERE day = %s) OR "
                         "EXISTS (SELECT 1 FROM remittance_reviews WHERE day = %s)", (d, d)):
            return d

"""The staff dashboard in a real browser (issue 6): this file is the orchestrator of
tests/browser/dashboard.mjs (playwright-core driving Debian's /usr/bin/chromium; no browser
is ever downloaded). It runs, against the test stack, the processes the dashboard needs:
order-worker (shop.orders), remittance-worker (shop.remittances), recharge-worker with its
automated desk off (RECHARGE_DESK=0: it only ingests shop.recharges, so queued orders wait
for a person at the dashboard's desk) and orderflow-dashboard itself (its embedded front
end, as shipped). It creates three dashboard users with `orderflow-admin user` (an
assistant, a staff member, a supervisor), seeds orders, tasks, recharges, remittances and a
dead letter through Kafka, then runs node with the URL, the users and the seeded ids in the
environment, and fails when node fails.

The browser test asks this orchestrator for what only the back end can do through a small
HTTP control server (CONTROL_URL): POST /suspend {order_id, attempt_id} publishes the
provider's "unknown" result for the attempt of an order the browser has locked
(recharge.result, R4) and answers once PostgreSQL shows the order suspended, so the browser
can time how long the desk page takes to show it without a reload.

Environment, besides the suite's: ORDERFLOW_BROWSER_ARTIFACTS (the screenshots' folder),
ORDERFLOW_DASHBOARD_WWW_DIR (serve the front end from this folder instead of the binary),
CHROMIUM (/usr/bin/chromium).

Expected note texts come from common/note_templates.json (the annotation catalogue: SPEC
4.2's text character for character), not from the database. Screenshots of every page go
to tests/artifacts/browser/ (ORDERFLOW_BROWSER_ARTIFACTS)."""
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "provider"))

from conftest import (BUILD_DIR, REPO, free_port, http_get, start_group_at_end,  # noqa: E402
                      wait_until)
from harness import Proc, RechargeWorker, rfc3339  # noqa: E402
from harness import start_group_at_end as start_recharge_group_at_end  # noqa: E402
from remit_lib import (ADMIN_BIN, SHOP_TZ, TOPIC_REMITTANCES, RIds, Services, ago,  # noqa: E402
                       free_day, iso, items, publish, settle, shop_time)

DASH_BIN = os.path.join(BUILD_DIR, "services", "dashboard", "orderflow-dashboard")
BROWSER_DIR = os.path.join(REPO, "tests", "browser")
BROWSER_ARTIFACTS = os.environ.get("ORDERFLOW_BROWSER_ARTIFACTS",
                                   os.path.join(REPO, "tests", "artifacts", "browser"))
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
PASSWORD = "correct horse battery staple 馬"
LOCK_WINDOW_S = 20  # the desk's lease: long enough for the browser's steps, short enough to see
TEMPLATES = os.path.join(REPO, "common", "note_templates.json")


def render_note(key, lang, **params):
    """A note's text from the annotation catalogue (SPEC 4.2: rendered text is exact)."""
    with open(TEMPLATES, encoding="utf-8") as f:
        text = json.load(f)[key][lang]
    names = set(re.findall(r"\{(\w+)\}", text))
    assert names == set(params), f"{key}/{lang} takes {sorted(names)}, given {sorted(params)}"
    for k, v in params.items():
        text = text.replace("{" + k + "}", str(v))
    return text


def shop_day(at_iso):
    """The shop's day (SHOP_TZ) of an RFC 3339 instant: the {date} of a note."""
    dt = datetime.datetime.fromisoformat(at_iso.replace("Z", "+00:00"))
    return dt.astimezone(SHOP_TZ).date().isoformat()


def create_user(name, role):
    assert os.access(ADMIN_BIN, os.X_OK), f"{ADMIN_BIN} is not built"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAFKA_")}
    r = subprocess.run([ADMIN_BIN, "user", name, role], input=(PASSWORD + "\n").encode(),
                       env=env, capture_output=True, timeout=60)
    assert r.returncode == 0, (f"orderflow-admin user {name} {role} exited {r.returncode}: "
                               f"{r.stderr.decode(errors='replace')}")
    return name


def event(rids, etype, subject, at, data):
    """A CloudEvents event of this test's shop (for the types remit_lib has no example of)."""
    return {"specversion": "1.0", "id": f"{subject}-{etype}", "source": rids.source,
            "type": etype, "time": iso(at), "subject": subject,
            "datacontenttype": "application/json", "data": data}


def recharge_requested(rids, order_id, account, at):
    return {"specversion": "1.0", "id": f"{order_id}-requested", "source": rids.source,
            "type": "recharge.requested", "time": at, "subject": order_id,
            "datacontenttype": "application/json",
            "data": {"order_id": order_id, "shop_id": rids.shop, "account": account,
                     "product": "mobile-50", "face_value": "50.00", "amount": "49.50"}}


def recharge_unknown(rids, order_id, attempt_id):
    return {"specversion": "1.0", "id": f"{attempt_id}-result-unknown", "source": rids.source,
            "type": "recharge.result", "time": rfc3339(), "subject": order_id,
            "datacontenttype": "application/json",
            "data": {"order_id": order_id, "attempt_id": attempt_id, "status": "unknown"}}


class Control:
    """The orchestrator's side of the browser test: a tiny HTTP server node calls."""

    def __init__(self, db, publisher, rids, recharge_orders):
        self.db, self.publisher, self.rids = db, publisher, rids
        self.allowed = set(recharge_orders)
        self.lock = threading.Lock()
        self.calls = []
        control = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _answer(self, status, body):
                raw = json.dumps(body, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(n) or b"{}")
                    if self.path == "/suspend":
                        self._answer(200, control.suspend(body["order_id"], body["attempt_id"]))
                    else:
                        self._answer(404, {"error": f"no {self.path}"})
                except Exception as e:  # noqa: BLE001 — told to node, which fails the test
                    self._answer(500, {"error": f"{type(e).__name__}: {e}"})

        self.srv = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.srv.daemon_threads = True
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.srv.server_address[1]}"

    def start(self):
        self.thread.start()
        return self

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()

    def suspend(self, order_id, attempt_id):
        """R4: the provider reports "unknown" for the attempt: the order is suspended."""
        assert order_id in self.allowed, f"{order_id} is not one of this test's recharges"
        with self.lock:
            self.publisher.structured(recharge_unknown(self.rids, order_id, attempt_id),
                                      topic="shop.recharges")
            self.publisher.flush()
        state = wait_until(lambda: self.db.scalar(
            "SELECT state FROM recharges WHERE order_id = %s AND state = 'suspended'",
            (order_id,)), 20, f"recharge {order_id} suspended")
        at = time.time()
        self.calls.append((order_id, at))
        return {"order_id": order_id, "state": state, "suspended_at_ms": int(at * 1000)}


class Dashboard(Proc):
    def __init__(self, log_path, port, health_port, **extra):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "DASHBOARD_"))}
        env.update({"DATABASE_URL": os.environ["DATABASE_URL"],
                    "KAFKA_BOOTSTRAP": os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092"),
                    "DASHBOARD_PORT": str(port), "DASHBOARD_BIND": "127.0.0.1",
                    "HTTP_PORT": str(health_port), "LOG_LEVEL": "info",
                    "SHOP_TZ": str(SHOP_TZ), "LOCK_WINDOW_S": str(LOCK_WINDOW_S),
                    "DASHBOARD_LIVE_POLL_MS": "250",
                    # R2's next-lock gap, 1 s here: the browser test pauses longer on purpose
                    # between two leases, so the breaches page has the staff member's R2
                    "RECHARGE_NEXT_LOCK_GAP_S": "1"})
        # the front end embedded in the binary, as shipped; ORDERFLOW_DASHBOARD_WWW_DIR serves
        # a folder instead (while working on services/dashboard/www, no rebuild needed)
        if os.environ.get("ORDERFLOW_DASHBOARD_WWW_DIR"):
            env["DASHBOARD_WWW_DIR"] = os.environ["ORDERFLOW_DASHBOARD_WWW_DIR"]
        env.update({k: str(v) for k, v in extra.items()})
        super().__init__([DASH_BIN], log_path, env, name="orderflow-dashboard")
        self.port, self.health_port = port, health_port

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout=60):
        def ready():
            assert self.alive(), (f"orderflow-dashboard exited with {self.proc.returncode}; log "
                                  f"{self.log_path}\n{self.log_tail()}")
            return http_get(self.port, "/")[0] == 200 and \
                http_get(self.health_port, "/readyz")[0] == 200
        wait_until(ready, timeout, f"orderflow-dashboard on port {self.port}", interval=0.2)
        return self


def _prerequisites():
    missing = []
    if not shutil.which("node"):
        missing.append("node (Debian package nodejs)")
    if not os.access(CHROMIUM, os.X_OK):
        missing.append(f"{CHROMIUM} (Debian package chromium)")
    if not os.path.isdir(os.path.join(BROWSER_DIR, "node_modules", "playwright-core")):
        missing.append("tests/browser/node_modules/playwright-core (npm install in tests/browser; "
                       "deploy/local/setup does it)")
    if not os.access(DASH_BIN, os.X_OK):
        missing.append(f"{DASH_BIN} (cmake --build build)")
    return missing


@pytest.fixture
def stack(request, db, publisher):
    """Everything the browser test needs, started and seeded; stopped at the end."""
    missing = _prerequisites()
    assert not missing, "the browser test cannot run without: " + "; ".join(missing)
    svc = Services(request.node.name)
    rids = RIds("dashbrowser")
    started = []
    control = None
    try:
        # ---- workers, each in a group of its own starting at its topic's end ----
        for name, topic in (("order-worker", "shop.orders"),
                            ("remittance-worker", TOPIC_REMITTANCES)):
            g = f"{svc.tag}-{name}"
            start_group_at_end(db, g, topic)
            svc.start(name, group=g)
        rgroup = f"{svc.tag}-recharge"
        start_recharge_group_at_end(db, rgroup)
        rw = RechargeWorker(os.path.join(svc.dir, "recharge-worker.log"), f"{rids.prefix}-ingest",
                            rgroup, "http://127.0.0.1:9/unused", RECHARGE_DESK=0,
                            LOCK_WINDOW_S=LOCK_WINDOW_S)
        rw.start().wait_ready()
        started.append(rw)
        dash = Dashboard(os.path.join(svc.dir, "dashboard.log"), free_port(), free_port())
        dash.start().wait_ready()
        started.append(dash)

        # ---- users (A0: the note's author is the user who acted) ----
        users = {"assistant": create_user(f"小惠{rids.run}", "assistant"),
                 "staff": create_user(f"阿傑{rids.run}", "staff"),
                 "supervisor": create_user(f"陳主管{rids.run}", "supervisor")}

        # ---- orders: one printed order the buyer cancels (A15: a cancel_waybill task for
        # the assistant), a few more in every state for the list, one bad event ----
        t0 = ago(hours=3)
        at = lambda minutes: t0 + datetime.timedelta(minutes=minutes)  # noqa: E731
        buyer = rids.buyer()
        cancel = rids.order()
        seeded = [rids.created(cancel, buyer, items(("DRESS-RED", 1, "M")), at=at(0)),
                  rids.paid(cancel, at=at(5)),
                  rids.order_event("order.printed", cancel, at=at(30), staff="小美",
                                   waybill_no="YT1234567890123"),
                  rids.order_event("order.buyer_cancelled", cancel, at=at(60), staff="阿傑",
                                   relister="阿強", assistant=users["assistant"])]
        others = []
        for n, steps in enumerate(("created", "paid", "printed", "shipped", "paid")):
            o = rids.order()
            others.append(o)
            seeded.append(rids.created(o, rids.buyer(), items(("SKU-%d" % n, 2)), at=at(n)))
            if steps in ("paid", "printed", "shipped"):
                seeded.append(rids.paid(o, at=at(n + 10)))
            if steps in ("printed", "shipped"):
                seeded.append(rids.order_event("order.printed", o, at=at(n + 20), staff="小美",
                                               waybill_no=f"YT{n:013d}"))
            if steps == "shipped":
                seeded.append(rids.order_event("order.shipped", o, at=at(n + 40),
                                               carrier="圓通"))
        # F2 on the shipped order: a register_refund task for the registrar queue (the staff
        # member's); a balance credit for another buyer (the ledger)
        refund_order, refund_account = others[3], f"buyer{rids.run}@example.com"
        seeded.append(event(rids, "refund.due", refund_order, at(80),
                            {"order_id": refund_order, "staff": "小美", "sku": "SKU-3",
                             "kind": "postage", "amount": "5.00", "channel": "alipay",
                             "account": refund_account}))
        credit = event(rids, "balance.registered", others[4], at(85),
                       {"buyer_id": None, "staff": "阿傑", "amount": "20.00",
                        "reason": "好評返現", "order_id": others[4]})
        seeded.append(credit)
        unknown = f"{rids.prefix}-nosuch"
        bad = rids.paid(unknown, at=at(90))
        seeded.append(bad)

        # ---- remittances: one notified 2 days 3 hours ago (aging), one 4 days ago (late) ----
        day = free_day(db)
        remits = [rids.remit(), rids.remit()]
        clerk = users["staff"]
        for r, hh, notified in ((remits[0], 9, ago(days=2, hours=3)),
                                (remits[1], 11, ago(days=4, hours=1))):
            rbuyer = rids.buyer()
            seeded.append(rids.ordered(r, rbuyer, clerk, items(("COAT-BLK", 1)),
                                       at=shop_time(day, hh)))
            seeded.append(rids.notified(r, rbuyer, clerk, "129.00", at=notified))
        credit["data"]["buyer_id"] = next(e["data"]["buyer_id"] for e in seeded
                                          if e["type"] == "order.created"
                                          and e["subject"] == others[4])
        publish(publisher, *seeded)
        out = settle(db, seeded, running=svc.made, timeout=90)
        wrong = {e["id"]: out[e["id"]] for e in seeded
                 if (out[e["id"]][0] == "applied") != (e is not bad)}
        assert not wrong, f"seed events with an unexpected outcome: {wrong}"

        # ---- recharges for the desk: requested "long ago", so they head the queue whatever
        # other tests (or an earlier run of this one) left in it: the queue is served oldest
        # request first, and each run's requests are older than the last run's ----
        racc = [f"1380013{rids.run[:4]}{n}" for n in range(3)]
        rorders = [f"{rids.prefix}-rc{n}" for n in range(3)]
        old = datetime.datetime(2001, 1, 1, tzinfo=datetime.timezone.utc) - \
            datetime.timedelta(seconds=int(time.time()) - 1_700_000_000)
        for n, (o, acc) in enumerate(zip(rorders, racc)):
            publisher.structured(recharge_requested(
                rids, o, acc, (old + datetime.timedelta(seconds=n)).strftime("%Y-%m-%dT%H:%M:%SZ")),
                topic="shop.recharges")
        publisher.flush()
        wait_until(lambda: db.scalar("SELECT count(*) FROM recharges WHERE order_id = ANY(%s) "
                                     "AND state = 'queued'", (rorders,)) == 3,
                   30, "the desk's recharges queued")

        # expected notes, from the catalogue
        printed_day = shop_day(seeded[2]["time"])
        cancel_day = shop_day(seeded[3]["time"])
        params15 = dict(assistant=users["assistant"], staff="阿傑", date=cancel_day)
        expect = {
            "notes": [render_note("A7", "zh-Hant", date=printed_day),
                      render_note("A15", "zh-Hant", **params15)],
            "notes_en": [render_note("A7", "en", date=printed_day),
                         render_note("A15", "en", **params15)],
            "notes_hans": [render_note("A7", "zh-Hans", date=printed_day),
                           render_note("A15", "zh-Hans", **params15)],
            # {date} is the shop's day when the assistant acts: filled in by the browser test
            "a16": render_note("A16", "zh-Hant", relister="阿強", assistant=users["assistant"],
                               date="{date}"),
            "a16_en": render_note("A16", "en", relister="阿強", assistant=users["assistant"],
                                  date="{date}"),
            "f3": render_note("F3", "zh-Hant", staff=users["staff"], date="{date}"),
        }
        # the database agrees with the catalogue (else the browser would show another text)
        got = [r[0] for r in db.all("SELECT rendered FROM order_notes_v WHERE order_id = %s "
                                    "ORDER BY seq", (cancel,))]
        assert got == expect["notes"], f"notes of {cancel} in PostgreSQL: {got}"

        control = Control(db, publisher, rids, rorders).start()
        seed = {
            "shop": rids.shop, "source": rids.source, "prefix": rids.prefix,
            "cancel_order": cancel, "other_orders": others, "bad_event": bad["id"],
            "refund_order": refund_order, "refund_account": refund_account,
            "credit_buyer": credit["data"]["buyer_id"],
            "recharges": rorders, "recharge_accounts": racc,
            "remittances": remits, "remit_day": day.isoformat(),
            "shop_tz": str(SHOP_TZ), "lock_window_s": LOCK_WINDOW_S,
            "expect": expect,
        }
        yield {"dash": dash, "users": users, "seed": seed, "control": control, "db": db,
               "services": svc, "rids": rids}
    finally:
        if control:
            control.close()
        for p in started:
            p.kill()
        rep = getattr(request.node, "rep_call", None)
        svc.close(failed=bool(rep and rep.failed))
        if rep and rep.failed:
            for p in started:
                print(f"\n----- {p.log_path} (last lines) -----\n{p.log_tail()}")


def test_dashboard_in_the_browser(stack):
    """Log in; find an order and read its notes (exact catalogue text) in three languages;
    an assistant completes the cancel_waybill task (A16, author = the assistant, A0); the
    staff member locks recharges at the desk and watches the lease count down (R1), completes
    one, sees another suspended live (R4) and resolves it; the supervisor sees every page,
    replays a dead letter, verifies a remittance (M4), downloads and reviews a day (M7, M8);
    logged out, the API refuses the old session. Screenshots of every page."""
    os.makedirs(BROWSER_ARTIFACTS, exist_ok=True)
    for f in os.listdir(BROWSER_ARTIFACTS):
        if f.endswith(".png"):
            os.remove(os.path.join(BROWSER_ARTIFACTS, f))
    env = dict(os.environ)
    env.update({
        "DASH_URL": stack["dash"].url,
        "DASH_USERS": json.dumps(stack["users"], ensure_ascii=False),
        "DASH_PASSWORD": PASSWORD,
        "DASH_SEED": json.dumps(stack["seed"], ensure_ascii=False),
        "CONTROL_URL": stack["control"].url,
        "ARTIFACTS": BROWSER_ARTIFACTS,
        "CHROMIUM": CHROMIUM,
    })
    log_path = os.path.join(stack["services"].dir, "browser.log")
    with open(log_path, "wb") as log:
        r = subprocess.run(["node", os.path.join(BROWSER_DIR, "dashboard.mjs")], cwd=BROWSER_DIR,
                           env=env, stdout=log, stderr=subprocess.STDOUT, timeout=600)
    with open(log_path, encoding="utf-8", errors="replace") as f:
        out = f.read()
    print(out[-6000:])
    assert r.returncode == 0, f"the browser test failed (exit {r.returncode}); log {log_path}:\n" \
                              f"{out[-4000:]}"

    # what the browser did is in PostgreSQL too: the A16 note by the assistant (A0) ...
    db, seed, users = stack["db"], stack["seed"], stack["users"]
    rows = db.all("SELECT code, author FROM order_notes_v WHERE order_id = %s ORDER BY seq",
                  (seed["cancel_order"],))
    assert ("A16", users["assistant"]) in rows, rows
    # ... and every action in the audit log under the user who took it
    actions = set(db.all("SELECT actor, action FROM audit_log WHERE actor = ANY(%s) AND "
                         "outcome = 'ok'", (list(users.values()),)))
    for want in ((users["assistant"], "task.complete"), (users["staff"], "task.complete"),
                 (users["staff"], "recharge.lock"),
                 (users["staff"], "recharge.complete"), (users["staff"], "recharge.resolve"),
                 (users["supervisor"], "deadletter.replay"),
                 (users["supervisor"], "remittance.verify")):
        assert want in actions, f"no audit row {want}: {sorted(actions)}"
    assert stack["control"].calls, "the browser test never asked for a suspension"
    # the refund the staff member registered (F3), and the desk's work in PostgreSQL
    assert db.one("SELECT staff, channel, account, real_name, amount::text FROM "
                  "refund_registrations WHERE order_id = %s", (seed["refund_order"],)) == \
        (users["staff"], "alipay", seed["refund_account"], "王小明", "5.00")
    rc = dict((o, (st, ref)) for o, st, ref in db.all(
        "SELECT order_id, state, provider_ref FROM recharges WHERE order_id = ANY(%s)",
        (seed["recharges"],)))
    assert rc == {seed["recharges"][0]: ("succeeded", "MANUAL-0001"),
                  seed["recharges"][1]: ("succeeded", "MANUAL-0002"),
                  seed["recharges"][2]: ("failed", None)}, rc
    assert db.scalar("SELECT count(*) FROM breaches_v WHERE rule = 'R2' AND actor = %s",
                     (users["staff"],)) >= 1, "R2: the staff member's long gap was not recorded"

"""The dashboard's JSON API (issue 6) against the real stack: the built orderflow-dashboard,
order-worker and remittance-worker, PostgreSQL and Kafka, no mocks.

For every route of services/dashboard/routes.c: 401 without a session, 403 for the roles
it does not allow, 403 without (or with a wrong) X-CSRF-Token on each POST, 400 with a
message on bad input; every list walks with limit+cursor without duplicates or gaps and
refuses a bad cursor. Then the actions: tasks completed through events with the user as
the actor (A0: A16/A17, F3), refused by the rules (422), refused by rights (403) or because
done (409); the recharge desk's lease (R1 lock, complete, fencing 409, release, R4 resolve,
one or many at once, R7 retry);
dead-letter replay (G4); remittance verification (M4), day review (M8) and CSV (M7); and
the audit log of it all.
"""
import datetime
import json
import os
import random
import time
import uuid
from zoneinfo import ZoneInfo

import pytest

from conftest import wait_until
from dash_lib import (ROLES, admin, dash_stack, error_message, routes_from_c,  # noqa: F401
                      start_dashboard)

SHOP_TZ = ZoneInfo(os.environ.get("SHOP_TZ") or "Asia/Shanghai")
API = "/api/v1"
SAMPLE = {"order_id": "it-dash-no-such-order", "task_id": "999999999999",
          "day": "1999-01-01", "remit_id": "it-dash-no-such-remit"}


# ---------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------

def fill(pattern):
    out = pattern
    for k, v in SAMPLE.items():
        out = out.replace("{" + k + "}", v)
    assert "{" not in out, f"no sample value for a parameter of {pattern}"
    return out


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def iso(dt):
    return dt.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_ts(s):
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))


def shop_day(ts):
    return parse_ts(ts).astimezone(SHOP_TZ).date().isoformat()


class Events:
    """CloudEvents of one test: a shop (source) and order ids of its own."""

    def __init__(self, tag):
        self.run = uuid.uuid4().hex[:8]
        self.prefix = f"it-dash{tag}-{self.run}"
        self.shop = self.prefix
        self.source = f"shop/{self.shop}"
        self.n = 0

    def order(self):
        self.n += 1
        return f"{self.prefix}-o{self.n}"

    def ev(self, etype, subject, data, at=None):
        self.n += 1
        return {"specversion": "1.0", "id": f"{subject}-{etype}-{self.n}",
                "source": self.source, "type": etype, "time": iso(at or utcnow()),
                "subject": subject, "datacontenttype": "application/json", "data": data}

    def created(self, oid, buyer="買家甲", total="129.00"):
        return self.ev("order.created", oid, {
            "order_id": oid, "shop_id": self.shop, "buyer_id": buyer, "total": total,
            "postage": "0.00", "auction": False,
            "items": [{"sku": "DRESS-RED", "size": "M", "qty": 1, "unit_price": "99.00"},
                      {"sku": "SCARF-01", "qty": 2, "unit_price": "15.00"}]})

    def paid(self, oid, amount="129.00"):
        return self.ev("order.paid", oid, {"order_id": oid, "amount": amount,
                                            "method": "alipay"})

    def printed(self, oid):
        return self.ev("order.printed", oid, {"order_id": oid, "waybill_no": "YT1234567890",
                                               "staff": "小美"})


def publish(publisher, *events, topic="shop.orders"):
    for e in events:
        publisher.structured(e, topic=topic)
    publisher.flush()


def wait_applied(db, stack, *events, timeout=60, replayed=False):
    """Waits until the events are applied; fails at once when one is dead-lettered (unless
    replayed: their earlier dead letters are expected)."""
    want = {(e["source"], e["id"]) for e in events}

    def done():
        got = set(db.all("SELECT source, id FROM applied_events WHERE source = %s AND "
                         "id = ANY(%s)", (events[0]["source"], [e["id"] for e in events])))
        bad = db.all("SELECT event_id, reason FROM dead_letters WHERE event_source = %s AND "
                     "event_id = ANY(%s) AND replayed_at IS NULL",
                     (events[0]["source"], [e["id"] for e in events]))
        assert replayed or not bad, f"event(s) dead-lettered: {bad}"
        return want <= got
    wait_until(done, timeout, f"{len(want)} event(s) applied", running=stack.running)


def task_of(db, order_id, kind, status="open"):
    row = db.one("SELECT task_id, assignee, detail FROM tasks WHERE order_id = %s AND kind = %s "
                 "AND status = %s ORDER BY task_id DESC LIMIT 1", (order_id, kind, status))
    return row


def audit_rows(db, actor, action):
    return db.all("SELECT outcome, target, detail FROM audit_log WHERE actor = %s AND action = %s "
                  "ORDER BY audit_id", (actor, action))


def printed_and_cancelled(db, stack, publisher, e, assistant, relister=None, staff="阿傑"):
    """An order, paid and printed, whose buyer cancels (A15): a cancel_waybill task for the
    assistant. Returns (order id, task id)."""
    oid = e.order()
    data = {"order_id": oid, "staff": staff, "assistant": assistant}
    if relister:
        data["relister"] = relister
    evs = [e.created(oid), e.paid(oid), e.printed(oid), e.ev("order.buyer_cancelled", oid, data)]
    publish(publisher, *evs)
    wait_applied(db, stack, *evs)
    t = task_of(db, oid, "cancel_waybill")
    assert t and t[1] == assistant, f"A15 should open a cancel_waybill task for {assistant}: {t}"
    return oid, t[0]


@pytest.fixture(scope="module")
def stack(dash_stack):
    return dash_stack


@pytest.fixture(scope="module")
def users(stack):
    return stack.users


# ---------------------------------------------------------------------------------------
# every route: session, roles, CSRF
# ---------------------------------------------------------------------------------------

ROUTES = routes_from_c()
PRIVATE = [r for r in ROUTES if "DASH_PUBLIC" not in r[3]]
POSTS = [r for r in PRIVATE if r[0] == "POST"]


def test_routes_cover_the_contract():
    """The route table holds every endpoint of the contract (the list in the tests below
    would silently shrink otherwise)."""
    have = {(m, p) for m, p, _, _ in ROUTES}
    for want in [("GET", "/api/v1/orders"), ("GET", "/api/v1/orders/{order_id}"),
                 ("GET", "/api/v1/tasks"), ("POST", "/api/v1/tasks/{task_id}/complete"),
                 ("POST", "/api/v1/tasks/bulk-complete"), ("GET", "/api/v1/desk"),
                 ("POST", "/api/v1/desk/lock"), ("POST", "/api/v1/desk/{order_id}/complete"),
                 ("POST", "/api/v1/desk/{order_id}/release"),
                 ("POST", "/api/v1/desk/{order_id}/resolve"), ("GET", "/api/v1/recharges"),
                 ("GET", "/api/v1/recharge-daily"), ("GET", "/api/v1/breaches"),
                 ("GET", "/api/v1/alerts"), ("GET", "/api/v1/dead-letters"),
                 ("POST", "/api/v1/dead-letters/replay"), ("GET", "/api/v1/remittances"),
                 ("POST", "/api/v1/remittances/{remit_id}/verify"),
                 ("GET", "/api/v1/remittance-days"), ("GET", "/api/v1/remittance-days/{day}"),
                 ("GET", "/api/v1/remittance-days/{day}/csv"),
                 ("POST", "/api/v1/remittance-days/{day}/review"),
                 ("GET", "/api/v1/refund-registrations"), ("GET", "/api/v1/balance-ledger"),
                 ("GET", "/api/v1/audit"), ("POST", "/api/v1/login"), ("POST", "/api/v1/logout"),
                 ("GET", "/api/v1/me"), ("GET", "/api/v1/live")]:
        assert want in have, f"{want} is not in routes.c"


@pytest.mark.parametrize("method,pattern", [(r[0], r[1]) for r in PRIVATE],
                         ids=[f"{r[0]} {r[1]}" for r in PRIVATE])
def test_401_without_login(stack, method, pattern):
    c = stack.dash.client()
    path = fill(pattern)
    r = c.get(path) if method == "GET" else c.post(path, {}, csrf="x")
    assert r.status_code == 401, f"{method} {path} without a session: {r.status_code} {r.text}"
    assert "log in" in error_message(r)
    assert r.headers.get("Cache-Control") == "no-store"


@pytest.mark.parametrize("method,pattern,roles", [(r[0], r[1], r[2]) for r in PRIVATE],
                         ids=[f"{r[0]} {r[1]}" for r in PRIVATE])
def test_roles(stack, users, method, pattern, roles):
    """A role the route does not allow gets 403 naming what it needs; an allowed role gets
    past the check (GETs only: a POST of an allowed role would act)."""
    path = fill(pattern)
    for role in ROLES:
        c = users.of_role(role)
        if role not in roles:
            r = c.get(path) if method == "GET" else c.post(path, {})
            assert r.status_code == 403, f"{role} {method} {path}: {r.status_code} {r.text}"
            assert "this needs" in error_message(r), error_message(r)
        elif method == "GET" and not path.endswith("/live"):
            r = c.get(path)
            assert r.status_code not in (401, 403), f"{role} {method} {path}: {r.status_code}"


@pytest.mark.parametrize("pattern,roles", [(r[1], r[2]) for r in POSTS],
                         ids=[r[1] for r in POSTS])
def test_csrf(stack, users, db, pattern, roles):
    """A POST without the X-CSRF-Token header, or with another session's token, is refused
    (403) before the handler: nothing is done, nothing is audited as done."""
    role = "supervisor" if "supervisor" in roles else sorted(roles)[0]
    c = users.of_role(role)
    other = users.of_role("operations" if role != "operations" else "staff")
    path = fill(pattern)
    before = db.scalar("SELECT coalesce(max(audit_id), 0) FROM audit_log WHERE actor = %s",
                       (c.name,))
    for csrf in (False, "0" * 64, other.csrf):
        r = c.post(path, {}, csrf=csrf)
        assert r.status_code == 403, f"POST {path} csrf={csrf!r}: {r.status_code} {r.text}"
        assert "CSRF" in error_message(r)
    r = c.post(path, {}, headers={"Origin": "https://evil.example"})
    assert r.status_code == 403 and "another site" in error_message(r)
    after = db.scalar("SELECT count(*) FROM audit_log WHERE actor = %s AND audit_id > %s "
                      "AND outcome = 'ok'", (c.name, before))
    assert after == 0, f"a refused POST {path} was audited as done"
    if pattern == "/api/v1/logout":
        assert c.get(API + "/me").status_code == 200, "a refused logout ended the session"


# ---------------------------------------------------------------------------------------
# bad input: 400 with a message naming the problem
# ---------------------------------------------------------------------------------------

BAD_GETS = [
    ("/orders", {"state": "bogus"}, "state must be one of unpaid, paid, printed, shipped"),
    ("/orders", {"closed": "maybe"}, "closed must be one of true, false"),
    ("/orders", {"from": "yesterday"}, "from must be a date like"),
    ("/orders", {"to": "2026-02-30"}, "to must be a date like"),
    ("/orders", {"nope": "1"}, 'unknown query argument "nope"'),
    ("/orders", {"limit": "0"}, "limit must be a whole number from 1 to 200"),
    ("/orders", {"limit": "201"}, "limit must be a whole number from 1 to 200"),
    ("/orders/" + "x" * 65, {}, "order_id must be"),
    ("/tasks", {"status": "closed"}, "status must be one of open, done, all"),
    ("/tasks", {"kind": "dance"}, "kind must be one of fix_waybill"),
    ("/tasks", {"mine": "yes"}, "mine must be one of true, false"),
    ("/desk", {"x": "1"}, 'unknown query argument "x"'),
    ("/recharges", {"state": "done"}, "state must be one of queued, locked, succeeded"),
    ("/recharge-daily", {"day": "2026-13-01"}, "day must be a date like"),
    ("/breaches", {"rule": "R9"}, "rule must be one of R1, R2, R3, R5, M3, T1"),
    ("/alerts", {"kind": "loud"}, "kind must be one of breach, suspended, readiness"),
    ("/dead-letters", {"replayed": "maybe"}, "replayed must be one of true, false"),
    ("/dead-letters", {"topic": "shop.other"}, "topic must be one of shop.orders"),
    ("/remittances", {"state": "paid"}, "state must be one of ordered, notified, verified"),
    ("/remittance-days", {"reviewed": "x"}, "reviewed must be one of true, false"),
    ("/remittance-days/2026-02-30", {}, "day must be a date like"),
    ("/remittance-days/someday/csv", {}, "day must be a date like"),
    ("/refund-registrations", {"from": "2026-11-23T25:00:00Z"}, "from must be a date like"),
    ("/balance-ledger", {"to": "soon"}, "to must be a date like"),
    ("/audit", {"outcome": "fine"}, "outcome must be one of ok, refused, error"),
]


@pytest.mark.parametrize("path,params,needle", BAD_GETS,
                         ids=[f"{p} {q}" for p, q, _ in BAD_GETS])
def test_bad_query_400(users, path, params, needle):
    c = users.of_role("supervisor")
    r = c.get(API + path, params)
    assert r.status_code == 400, f"GET {path} {params}: {r.status_code} {r.text}"
    assert needle in error_message(r), error_message(r)


BAD_POSTS = [
    ("/tasks/abc/complete", {}, "task_id must be a positive whole number"),
    ("/tasks/999999999999/complete", {}, "no task 999999999999"),  # 404
    ("/tasks/bulk-complete", {}, "give either ids"),
    ("/tasks/bulk-complete", {"ids": []}, "ids must be a non-empty array"),
    ("/tasks/bulk-complete", {"ids": [-1]}, "ids[0] must be a positive whole number"),
    ("/tasks/bulk-complete", {"ids": [1], "filter": {}}, "not both"),
    ("/tasks/bulk-complete", {"filter": {"kind": "x"}}, "filter.kind must be one of"),
    ("/tasks/bulk-complete", {"filter": {"colour": "red"}}, "filter.colour is not a filter"),
    ("/desk/lock", {"x": 1}, 'unexpected field "x"'),
    ("/desk/it-dash-x/complete", {}, "lock_token is required"),
    ("/desk/it-dash-x/complete", {"lock_token": 5, "outcome": "maybe"},
     "outcome must be one of success, failed"),
    ("/desk/it-dash-x/release", {"lock_token": "abc"}, "lock_token is required"),
    ("/desk/it-dash-x/resolve", {"outcome": "later"},
     "outcome must be one of success, failed, retry"),
    ("/desk/it-dash-x/resolve", {}, "outcome is required"),
    ("/desk/resolve-bulk", {"ids": ["it-dash-x"]}, "outcome is required"),
    ("/desk/resolve-bulk", {"outcome": "later", "ids": ["it-dash-x"]},
     "outcome must be one of success, failed, retry"),
    ("/desk/resolve-bulk", {"outcome": "success"}, "give either ids"),
    ("/desk/resolve-bulk", {"outcome": "success", "ids": ["it-dash-x"], "filter": {}},
     "not both"),
    ("/desk/resolve-bulk", {"outcome": "success", "ids": []},
     "ids must be a non-empty array of order ids"),
    ("/desk/resolve-bulk", {"outcome": "success", "ids": "it-dash-x"},
     "ids must be a non-empty array of order ids"),
    ("/desk/resolve-bulk", {"outcome": "success", "ids": [f"it-dash-{i}" for i in range(10001)]},
     "ids: at most 10000 at a time (got 10001)"),
    ("/desk/resolve-bulk", {"outcome": "success", "ids": ["ok", 5]},
     "ids[1] must be an order id of 1 to 64 characters"),
    ("/desk/resolve-bulk", {"outcome": "success", "ids": ["x" * 65]},
     "ids[0] must be an order id of 1 to 64 characters"),
    ("/desk/resolve-bulk", {"outcome": "success", "filter": {"state": "queued"}},
     "filter.state must be suspended"),
    ("/desk/resolve-bulk", {"outcome": "success", "filter": {"state": "gone"}},
     "filter.state must be one of queued, locked"),
    ("/desk/resolve-bulk", {"outcome": "success", "filter": {"from": "yesterday"}},
     "filter.from must be a date like"),
    ("/desk/resolve-bulk", {"outcome": "success", "filter": {"colour": "red"}},
     "filter.colour is not a filter"),
    ("/desk/resolve-bulk", {"outcome": "success", "filter": []}, "filter must be an object"),
    ("/desk/resolve-bulk", {"outcome": "success", "filter": {}, "provider_ref": "x" * 201},
     "provider_ref is too long"),
    ("/desk/resolve-bulk", {"outcome": "success", "filter": {}, "note": "x"},
     'unexpected field "note"'),
    ("/dead-letters/replay", {"ids": "1"}, "ids must be a non-empty array"),
    ("/dead-letters/replay", {"filter": {"replayed": "perhaps"}},
     "filter.replayed must be one of true, false"),
    ("/remittances/it-dash-x/verify", {}, "amount is required"),
    ("/remittances/it-dash-x/verify", {"amount": 5}, "amount must be a non-empty string"),
    ("/remittance-days/23-11-2026/review", {}, "day must be a date like"),
    ("/remittance-days/2026-11-23/review", {"day": "2026-11-24"}, 'unexpected field "day"'),
]


@pytest.mark.parametrize("path,body,needle", BAD_POSTS,
                         ids=[f"{p} {json.dumps(b)}" for p, b, _ in BAD_POSTS])
def test_bad_body_400(users, path, body, needle):
    c = users.of_role("supervisor")
    r = c.post(API + path, body)
    want = 404 if needle.startswith("no task") else 400
    assert r.status_code == want, f"POST {path} {body}: {r.status_code} {r.text}"
    assert needle in error_message(r), error_message(r)


def test_every_route_has_a_bad_input_case():
    """Each route that takes input has a 400 case above (me, live and logout take none)."""
    covered = {("GET", "/api/v1" + p) for p, _, _ in BAD_GETS} | \
        {("POST", "/api/v1" + p) for p, _, _ in BAD_POSTS}
    import re as _re

    def matches(m, pattern):
        rx = "^" + _re.sub(r"\\\{[^}]+\\\}", "[^/]+", _re.escape(pattern)) + "$"
        return any(cm == m and _re.match(rx, cp) for cm, cp in covered)
    missing = [(m, p) for m, p, _, _ in ROUTES
               if p not in ("/api/v1/me", "/api/v1/live", "/api/v1/logout", "/api/v1/login")
               and not matches(m, p)]
    assert not missing, f"routes without a bad-input case: {missing}"


def test_login_bad_input_400(stack):
    c = stack.dash.client()
    r = c.post(API + "/login", {"name": "x"}, csrf=False)
    assert r.status_code == 400 and "name and password are required" in error_message(r)


def test_body_not_json_400(users):
    c = users.of_role("supervisor")
    for path in ("/tasks/bulk-complete", "/dead-letters/replay", "/desk/x/resolve",
                 "/desk/resolve-bulk"):
        r = c.post(API + path, raw=b"{not json")
        assert r.status_code == 400 and "not valid JSON" in error_message(r), r.text
        r = c.post(API + path, raw=b"[1, 2]")
        assert r.status_code == 400 and "must be a JSON object" in error_message(r), r.text


# ---------------------------------------------------------------------------------------
# pagination: every list walks without duplicates or gaps
# ---------------------------------------------------------------------------------------

def _seed(db, tag):
    """Seven rows per list, scoped to values of this run; three share one sort key so the
    id breaks the tie. Returns {list: (path, params, id field, key field, ids)}."""
    u = uuid.uuid4().hex[:8]
    base = datetime.datetime(2001, 2, 3, 4, 5, 6, tzinfo=datetime.timezone.utc)
    ts = [base, base, base] + [base - datetime.timedelta(minutes=i) for i in range(1, 5)]
    out = {}
    shop, oids = f"it-dashpg-{u}", [f"it-dashpg-{u}-o{i}" for i in range(7)]
    for i, o in enumerate(oids):
        db.all("INSERT INTO orders (order_id, shop_id, buyer_id, state, total, postage, auction, "
               "items, created_at) VALUES (%s, %s, %s, 'unpaid', 1, 0, false, '[]', %s)",
               (o, shop, f"buyer-{u}", ts[i]))
    out["orders"] = ("/orders", {"shop_id": shop}, "order_id", "created_at", oids)
    who = f"pg-{u}"
    tids = [db.scalar("INSERT INTO tasks (order_id, kind, assignee, status, created_at, "
                      "created_by_source, created_by_id) VALUES (%s, 'relist', %s, %s, %s, "
                      "'shop/x', 'x') RETURNING task_id",
                      (oids[0], who, "open" if i % 2 else "done", ts[i])) for i in range(7)]
    out["tasks"] = ("/tasks", {"assignee": who, "status": "all"}, "task_id", "created_at", tids)
    out["tasks-order"] = ("/tasks", {"mine": "false", "order_id": oids[0], "status": "all"},
                          "task_id", "created_at", tids)
    rids = [f"it-dashpg-{u}-r{i}" for i in range(7)]
    for i, r in enumerate(rids):
        db.all("INSERT INTO recharges (order_id, shop_id, account, product, face_value, amount, "
               "requested_at, state, last_processor, handled_by) VALUES "
               "(%s, 's', '13800000000', 'p', 10, 10, %s, 'succeeded', %s, %s)",
               (r, ts[i], who, who))
    out["recharges"] = ("/recharges", {"processor": who}, "order_id", "requested_at", rids)
    bids = [db.scalar("INSERT INTO breaches (rule, subject_id, actor, deadline, observed_at) "
                      "VALUES ('T1', %s, %s, %s, %s) RETURNING breach_id",
                      (f"{who}-b{i}", who, ts[i], ts[i])) for i in range(7)]
    out["breaches"] = ("/breaches", {"actor": who}, "breach_id", "observed_at", bids)
    pairs = [("R1", "breach"), ("R2", "breach"), ("R3", "breach"), ("R4", "suspended"),
             ("R5", "readiness"), ("R7", "result_conflict"), ("T1", "breach")]
    aids = [db.scalar("INSERT INTO alerts (kind, rule, subject_id, reason, at, payload) VALUES "
                      "(%s, %s, %s, 'r', %s, '{}') RETURNING alert_id",
                      (k, r, who, ts[i])) for i, (r, k) in enumerate(pairs)]
    out["alerts"] = ("/alerts", {"subject_id": who}, "alert_id", "at", aids)
    src = f"shop/it-dashpg-{u}"
    off = -random.randrange(10**12, 10**15)
    dids = [db.scalar("INSERT INTO dead_letters (topic, partition, \"offset\", reason, "
                      "received_at, payload, payload_text, event_source, event_id) VALUES "
                      "('shop.orders', 0, %s, 'r', %s, '\\x7b7d', '{}', %s, %s) RETURNING dl_id",
                      (off - i, ts[i], src, f"e{i}")) for i in range(7)]
    out["dead-letters"] = ("/dead-letters", {"source": src}, "dl_id", "received_at", dids)
    mids = [f"it-dashpg-{u}-m{i}" for i in range(7)]
    for i, m in enumerate(mids):
        db.all("INSERT INTO remittances (remit_id, buyer_id, placed_on_shop, items, address, "
               "staff, state, ordered_at, day) VALUES (%s, 'b', false, '[]', 'a', %s, "
               "'ordered', %s, '2001-02-03')", (m, who, ts[i]))
    out["remittances"] = ("/remittances", {"staff": who}, "remit_id", "ordered_at", mids)
    fids = [db.scalar("INSERT INTO refund_registrations (order_id, buyer_id, channel, account, "
                      "real_name, amount, reason, staff, registered_at) VALUES "
                      "(%s, 'b', 'alipay', 'acct123456', '王小明', 1, 'r', %s, %s) "
                      "RETURNING reg_id", (oids[0], who, ts[i])) for i in range(7)]
    out["refund-registrations"] = ("/refund-registrations", {"staff": who}, "reg_id",
                                   "registered_at", fids)
    lids = [db.scalar("INSERT INTO balance_ledger (buyer_id, delta, balance_after, at, kind, "
                      "staff) VALUES (%s, 1, 1, %s, 'registered', 's') RETURNING entry_id",
                      (who, ts[i])) for i in range(7)]
    out["balance-ledger"] = ("/balance-ledger", {"buyer_id": who}, "entry_id", "at", lids)
    xids = [db.scalar("INSERT INTO audit_log (at, actor, action, outcome) VALUES "
                      "(%s, %s, 'test.walk', 'ok') RETURNING audit_id", (ts[i], who))
            for i in range(7)]
    out["audit"] = ("/audit", {"actor": who}, "audit_id", "at", xids)
    return out


def test_pagination_walks_every_list(users, db):
    sup = users.of_role("supervisor")
    for name, (path, params, idf, keyf, ids) in _seed(db, "pg").items():
        pages = sup.walk(API + path, params, 3)
        sizes = [len(p) for p in pages]
        assert sizes == [3, 3, 1], f"{name}: pages of {sizes} for 7 rows with limit 3"
        got = [row[idf] for p in pages for row in p]
        assert len(got) == len(set(got)), f"{name}: duplicates across pages: {got}"
        assert set(got) == set(ids), f"{name}: the walk missed {set(ids) - set(got)}"
        keys = [(row[keyf], row[idf]) for p in pages for row in p]
        assert keys == sorted(keys, reverse=True), f"{name}: not newest first: {keys}"
        # one page of 200 gives the same rows
        one = sup.ok(API + path, dict(params, limit=200))
        assert [r[idf] for r in one["items"]] == got and one["next_cursor"] is None


def test_pagination_recharge_daily_matches_the_view(users, db):
    """R6: the daily record walks like the view recharge_daily_v reads, breaches counted on
    their shop day, a breach-only day included."""
    sup = users.of_role("supervisor")
    p = f"pg-rd-{uuid.uuid4().hex[:8]}"
    d0 = datetime.date(2003, 5, 1)
    for i in range(7):
        db.all("INSERT INTO recharge_processor_days (processor, day, locked, succeeded, amount) "
               "VALUES (%s, %s, %s, %s, %s)", (p, d0 + datetime.timedelta(days=i), i + 1, i, i))
    noon = lambda d: datetime.datetime(d.year, d.month, d.day, 12, tzinfo=SHOP_TZ)  # noqa: E731
    db.all("INSERT INTO breaches (rule, subject_id, actor, deadline, observed_at) VALUES "
           "('R2', %s, %s, now(), %s), ('R5', %s, %s, now(), %s)",
           (p + "-b1", p, noon(d0 + datetime.timedelta(days=3)), p + "-b2", p,
            noon(d0 + datetime.timedelta(days=20))))
    pages = sup.walk(API + "/recharge-daily", {"processor": p}, 3)
    got = [(r["day"], r["processor"], r["locked"], r["breaches"]) for pg in pages for r in pg]
    view = [(str(d), pr, lk, br) for d, pr, lk, br in db.all(
        "SELECT day, processor, locked, breaches FROM recharge_daily_v WHERE processor = %s "
        "ORDER BY day DESC", (p,))]
    assert got == view, f"API {got} != recharge_daily_v {view}"
    assert len(got) == 8 and [len(pg) for pg in pages] == [3, 3, 2]
    one_day = sup.ok(API + "/recharge-daily",
                     {"processor": p, "day": str(d0 + datetime.timedelta(days=3))})
    assert [(r["locked"], r["breaches"]) for r in one_day["items"]] == [(4, 1)]


def test_pagination_remittance_days(users, db):
    """M7/M8: days newest first with their counts; a day's rows walk by remit id."""
    sup = users.of_role("supervisor")
    from remit_lib import free_day
    day = free_day(db)
    u = uuid.uuid4().hex[:8]
    for i in range(7):
        db.all("INSERT INTO remittances (remit_id, buyer_id, placed_on_shop, items, address, "
               "staff, state, ordered_at, day, amount) VALUES (%s, 'b', false, '[]', 'a', 's', "
               "%s, now(), %s, 10)", (f"it-dashday-{u}-{i}", "ordered" if i < 4 else "notified",
                                      day))
    pages = sup.walk(API + f"/remittance-days/{day}", {}, 3)
    got = [r["remit_id"] for p in pages for r in p]
    assert got == sorted((f"it-dashday-{u}-{i}" for i in range(7)), reverse=True)
    days = [r for p in sup.walk(API + "/remittance-days", {}, 2) for r in p]
    keys = [r["day"] for r in days]
    assert keys == sorted(set(keys), reverse=True), "days repeated or out of order"
    mine = [r for r in days if r["day"] == str(day)]
    assert mine and mine[0]["remittances"] == 7 and mine[0]["ordered"] == 4 \
        and mine[0]["notified"] == 3 and mine[0]["amount"] == "70.00" \
        and mine[0]["reviewed_by"] is None
    unreviewed = [r["day"] for p in sup.walk(API + "/remittance-days", {"reviewed": "false"}, 5)
                  for r in p]
    assert str(day) in unreviewed
    assert str(day) not in [r["day"] for r in sup.ok(API + "/remittance-days",
                                                     {"reviewed": "true", "limit": 200})["items"]]


LISTS = ["/orders", "/tasks", "/recharges", "/recharge-daily", "/breaches", "/alerts",
         "/dead-letters", "/remittances", "/remittance-days", "/remittance-days/2001-02-03",
         "/refund-registrations", "/balance-ledger", "/audit"]


@pytest.mark.parametrize("path", LISTS)
def test_bad_cursor_400(users, db, path):
    sup = users.of_role("supervisor")
    for cursor in ("!!!", "bm9iYXI", "eA"):   # not base64url; no '|'; too short
        r = sup.get(API + path, {"cursor": cursor})
        assert r.status_code == 400 and "cursor" in error_message(r), (path, cursor, r.text)
    # a cursor of another list: the key or the id is not of this list's kind
    import base64
    foreign = "2026-11-23T01:02:03.000000Z|not-a-number" if path not in (
        "/orders", "/recharges", "/remittances") else "2026-13-45|x"
    enc = base64.urlsafe_b64encode(foreign.encode()).decode().rstrip("=")
    r = sup.get(API + path, {"cursor": enc})
    if path in ("/remittance-days/2001-02-03",):
        assert r.status_code in (200, 400)   # any remit id is a valid id there
    else:
        assert r.status_code == 400, (path, r.status_code, r.text)


# ---------------------------------------------------------------------------------------
# the order page
# ---------------------------------------------------------------------------------------

def test_order_page(stack, users, db, publisher):
    e = Events("op")
    asst = users.of_role("assistant")
    oid, _ = printed_and_cancelled(db, stack, publisher, e, asst.name, relister="阿強")
    due = e.ev("refund.due", oid, {"order_id": oid, "staff": "小美", "sku": "SCARF-01",
                                   "kind": "postage", "amount": "10.00", "channel": "bank",
                                   "account": "6222020200112233", "real_name": "王小明"})
    reg = e.ev("refund.registered", oid, {"order_id": oid, "staff": "小美", "buyer_id": "買家甲",
                                          "channel": "bank", "account": "6222020200112233",
                                          "real_name": "王小明", "amount": "10.00",
                                          "reason": "郵費"})
    publish(publisher, due, reg)
    wait_applied(db, stack, due, reg)
    staff, sup = users.of_role("staff"), users.of_role("supervisor")
    page = staff.ok(API + f"/orders/{oid}")
    o = page["order"]
    assert o["order_id"] == oid and o["state"] == "printed" and o["total"] == "129.00"
    assert o["shop_id"] == e.shop and o["refunded"] == "10.00"
    codes = [n["code"] for n in page["notes"]]
    assert codes == ["A7", "A15", "F2", "F3"], codes
    assert [n["seq"] for n in page["notes"]] == sorted(n["seq"] for n in page["notes"])
    a15 = page["notes"][1]
    assert a15["rendered"].startswith("買家不要,申請退款,待撤單,已交") and a15["rendered_hans"] \
        and a15["rendered_en"] and a15["author"] == "阿傑"
    kinds = sorted(t["kind"] for t in page["tasks"])
    assert kinds == ["cancel_waybill", "register_refund"], kinds
    # F3: personal data masked for staff, in full for a supervisor
    (ref,) = page["refunds"]
    assert ref["masked"] is True and ref["account"] == "************2233" \
        and ref["real_name"] == "王**", ref
    t = [t for t in page["tasks"] if t["kind"] == "register_refund"][0]
    assert t["detail"]["account"].endswith("2233") and t["detail"]["account"].startswith("*")
    (full,) = sup.ok(API + f"/orders/{oid}")["refunds"]
    assert full["masked"] is False and full["account"] == "6222020200112233" \
        and full["real_name"] == "王小明"
    assert page["ledger"] == [] and page["recharge"] is None
    r = staff.get(API + f"/orders/{oid}-nope")
    assert r.status_code == 404 and "no order" in error_message(r)


# ---------------------------------------------------------------------------------------
# tasks completed through events (A0)
# ---------------------------------------------------------------------------------------

def test_cancel_waybill_a16_by_the_assistant(stack, users, db, publisher):
    """A16: the assistant cancels the waybill through the API; the note's author is the
    logged-in assistant (A0), the relister and the staff who asked get their tasks."""
    e = Events("a16")
    asst = users.of_role("assistant")
    oid, tid = printed_and_cancelled(db, stack, publisher, e, asst.name, relister="阿強")
    mine = asst.ok(API + "/tasks")["items"]
    assert tid in [t["task_id"] for t in mine], "the task is not in the assistant's list"
    r = asst.post(API + f"/tasks/{tid}/complete", {"outcome": "cancelled"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "applied" and body["event_id"].startswith("dash-")
    (note,) = body["notes"]
    day = shop_day(note["noted_at"])
    assert note["code"] == "A16" and note["author"] == asst.name
    assert note["rendered"] == f"單已撤,可以退款+已提交阿強上架+{asst.name}/{day}"
    assert note["rendered_hans"] and note["rendered_en"]
    assert abs((utcnow() - parse_ts(note["noted_at"])).total_seconds()) < 120
    # in PostgreSQL: the event, applied once, from the order's shop; the tasks
    assert db.scalar("SELECT count(*) FROM applied_events WHERE source = %s AND id = %s",
                     (e.source, body["event_id"])) == 1
    assert db.scalar("SELECT author FROM order_notes_v WHERE order_id = %s AND code = 'A16'",
                     (oid,)) == asst.name
    st = dict(db.all("SELECT kind, assignee FROM tasks WHERE order_id = %s AND status = 'open'",
                     (oid,)))
    assert st == {"relist": "阿強", "cancel_done": "阿傑"}, st
    assert db.scalar("SELECT closed_by FROM tasks WHERE task_id = %s", (tid,)) == asst.name
    assert db.scalar("SELECT state FROM orders WHERE order_id = %s", (oid,)) == "paid"
    # done: a second completion is a conflict
    r = asst.post(API + f"/tasks/{tid}/complete", {"outcome": "cancelled"})
    assert r.status_code == 409 and "already done" in error_message(r), r.text
    outcomes = [o for o, t, _ in audit_rows(db, asst.name, "task.complete") if t == str(tid)]
    assert outcomes == ["ok", "refused"], outcomes
    detail = [d for _, t, d in audit_rows(db, asst.name, "task.complete") if t == str(tid)][0]
    assert detail["event_id"] == body["event_id"] and detail["outcome"] == "applied"


def test_cancel_waybill_a17_by_a_supervisor(stack, users, db, publisher):
    """A17: not found; whoever reports it (here a supervisor, who may complete anyone's
    task) is the note's author and keeps the follow-up; after-sales registration."""
    e = Events("a17")
    asst, sup = users.of_role("assistant"), users.of_role("supervisor")
    oid, tid = printed_and_cancelled(db, stack, publisher, e, asst.name, relister="阿強")
    r = sup.post(API + f"/tasks/{tid}/complete",
                 {"outcome": "not_found", "cause": "已發出", "courier": "圓通"})
    assert r.status_code == 200, r.text
    (note,) = r.json()["notes"]
    day = shop_day(note["noted_at"])
    assert note["code"] == "A17" and note["author"] == sup.name
    assert note["rendered"] == (f"面單未找到(已發出),已聯系快遞圓通退回,并拜托買家拒簽+已交售後登記+"
                                f"{sup.name}/{day}")
    open_ = sorted(db.all("SELECT kind, assignee FROM tasks WHERE order_id = %s AND "
                          "status = 'open'", (oid,)))
    assert open_ == [("after_sales", "after_sales"), ("cancel_followup", sup.name)], open_


def test_pending_202_then_applied(stack, users, db, publisher):
    """A11 through fix_waybill while the order-worker is paused: the action is published,
    its outcome unknown within the wait, so 202 pending with the event id; once the worker
    runs again the event applies, with the assistant as the note's author (A0)."""
    import signal
    e = Events("pend")
    asst = users.of_role("assistant")
    oid = e.order()
    evs = [e.created(oid), e.paid(oid), e.printed(oid),
           e.ev("order.address_changed", oid, {"order_id": oid, "staff": "阿傑",
                                               "address": "上海市浦東新區世紀大道8號 張先生",
                                               "assistant": asst.name})]
    publish(publisher, *evs)
    wait_applied(db, stack, *evs)
    tid = task_of(db, oid, "fix_waybill")[0]
    dash3 = start_dashboard(stack.services, DASHBOARD_ACTION_WAIT_MS=300)
    a3 = dash3.client(asst.name, asst.password).login()
    worker = stack.orders.proc
    worker.send_signal(signal.SIGSTOP)
    try:
        r = a3.post(API + f"/tasks/{tid}/complete", {"outcome": "fixed"})
    finally:
        worker.send_signal(signal.SIGCONT)
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["status"] == "pending" and body["event_id"].startswith("dash-")
    wait_until(lambda: db.scalar("SELECT count(*) FROM applied_events WHERE source = %s AND "
                                 "id = %s", (e.source, body["event_id"])) == 1,
               60, "the pending action to apply", running=stack.running)
    assert db.one("SELECT author, rendered FROM order_notes_v WHERE order_id = %s AND "
                  "code = 'A11'", (oid,))[0] == asst.name
    assert db.one("SELECT status, closed_by FROM tasks WHERE task_id = %s", (tid,)) == \
        ("done", asst.name)
    (row,) = [x for x in audit_rows(db, asst.name, "task.complete") if x[1] == str(tid)]
    assert row[0] == "ok" and row[2]["outcome"] == "pending" and row[2]["status"] == 202


def test_rejected_action_422_with_the_reason(stack, users, db, publisher):
    """A16 without a relister anywhere: the order-worker rejects the event; the API answers
    422 with that reason, the task stays open, the audit row says refused."""
    e = Events("rej")
    asst = users.of_role("assistant")
    oid, tid = printed_and_cancelled(db, stack, publisher, e, asst.name, relister=None)
    r = asst.post(API + f"/tasks/{tid}/complete", {"outcome": "cancelled"})
    assert r.status_code == 422, r.text
    assert "data.relister: required" in error_message(r) and r.json()["event_id"]
    assert db.scalar("SELECT status FROM tasks WHERE task_id = %s", (tid,)) == "open"
    assert db.scalar("SELECT count(*) FROM order_notes WHERE order_id = %s AND code = 'A16'",
                     (oid,)) == 0
    (row,) = [x for x in audit_rows(db, asst.name, "task.complete") if x[1] == str(tid)]
    assert row[0] == "refused" and "relister" in row[2]["message"]
    # invalid by the event schema: 400 before anything is published
    r = asst.post(API + f"/tasks/{tid}/complete", {"outcome": "lost"})
    assert r.status_code == 400 and "data.outcome" in error_message(r), r.text
    r = asst.post(API + f"/tasks/{tid}/complete", {"outcome": "cancelled", "colour": "red"})
    assert r.status_code == 400 and 'unexpected field "colour"' in error_message(r)
    # the task is the assistant's: another staff member may not complete it
    staff = users.of_role("staff")
    r = staff.post(API + f"/tasks/{tid}/complete", {"outcome": "cancelled", "relister": "阿強"})
    assert r.status_code == 403 and asst.name in error_message(r), r.text
    assert db.scalar("SELECT status FROM tasks WHERE task_id = %s", (tid,)) == "open"


def test_register_refund_task_f3(stack, users, db, publisher):
    """F2 opens register_refund for the registrar queue; a staff member of that queue
    completes it with only the reason (channel, account, name come from the task): F3 note
    by the user, the registration row by the user. Too much → 422 from the rule."""
    e = Events("f3")
    staff, sup = users.of_role("staff"), users.of_role("supervisor")
    oid = e.order()
    evs = [e.created(oid), e.paid(oid),
           e.ev("refund.due", oid, {"order_id": oid, "staff": "小美", "sku": "SCARF-01",
                                    "kind": "postage", "amount": "10.00", "channel": "alipay",
                                    "account": "buyer01@example.com", "real_name": "李四"})]
    publish(publisher, *evs)
    wait_applied(db, stack, *evs)
    tid, assignee, _ = task_of(db, oid, "register_refund")
    assert assignee == "registrar"
    mine = staff.ok(API + "/tasks", {"kind": "register_refund", "order_id": oid})["items"]
    assert [t["task_id"] for t in mine] == [tid], "registrar is one of a staff member's queues"
    assert mine[0]["detail"]["account"] != "buyer01@example.com" and \
        mine[0]["detail"]["real_name"] == "李*"
    full = sup.ok(API + "/tasks", {"kind": "register_refund", "order_id": oid,
                                   "mine": "false"})["items"]
    assert full[0]["detail"]["account"] == "buyer01@example.com"
    r = staff.post(API + f"/tasks/{tid}/complete", {"reason": "多收郵費"})
    assert r.status_code == 200, r.text
    (note,) = r.json()["notes"]
    assert note["code"] == "F3" and note["author"] == staff.name and \
        note["rendered"] == f"退款已登記+{staff.name}/{shop_day(note['noted_at'])}"
    row = db.one("SELECT staff, account, real_name, amount::text, reason FROM "
                 "refund_registrations WHERE order_id = %s", (oid,))
    assert row == (staff.name, "buyer01@example.com", "李四", "10.00", "多收郵費"), row
    assert db.scalar("SELECT status FROM tasks WHERE task_id = %s", (tid,)) == "done"
    # a second one for more than is left of the payment: the rule refuses it
    more = e.ev("refund.due", oid, {"order_id": oid, "staff": "小美", "sku": "DRESS-RED",
                                    "kind": "discount", "amount": "5.00", "channel": "alipay",
                                    "account": "buyer01@example.com"})
    publish(publisher, more)
    wait_applied(db, stack, more)
    tid2 = task_of(db, oid, "register_refund")[0]
    r = staff.post(API + f"/tasks/{tid2}/complete", {"reason": "x", "amount": "500.00",
                                                     "real_name": "李四"})
    assert r.status_code == 422 and "more than" in error_message(r), r.text
    r = staff.post(API + f"/tasks/{tid2}/complete", {"reason": "x"})
    assert r.status_code == 400 and "real_name is required" in error_message(r), r.text


def test_register_balance_task_f3(stack, users, db, publisher):
    """A5 opens register_balance for the registrar; completing it publishes
    balance.registered by the user: the F3 balance note and a ledger credit."""
    e = Events("bal")
    staff = users.of_role("staff")
    oid, buyer = e.order(), f"買家{e.run}"
    credit = e.ev("balance.registered", oid, {"buyer_id": buyer, "staff": "小美",
                                              "amount": "50.00", "reason": "活動補償"})
    deduct = e.ev("order.price_changed", oid, {"order_id": oid, "staff": "小美",
                                               "new_total": "109.00",
                                               "reason": "balance_deduction", "amount": "20.00"})
    evs = [e.created(oid, buyer=buyer), credit, deduct]
    publish(publisher, *evs)
    wait_applied(db, stack, *evs)
    tid = task_of(db, oid, "register_balance")[0]
    r = staff.post(API + f"/tasks/{tid}/complete", {"reason": "余額扣除登記"})
    assert r.status_code == 200, r.text
    (note,) = r.json()["notes"]
    assert note["code"] == "F3" and note["author"] == staff.name and \
        note["rendered"] == f"余額已登記+{staff.name}/{shop_day(note['noted_at'])}"
    ledger = staff.ok(API + "/balance-ledger", {"buyer_id": buyer})["items"]
    assert [(x["delta"], x["kind"], x["staff"]) for x in ledger][0] == ("20.00", "registered",
                                                                       staff.name)
    page = staff.ok(API + f"/orders/{oid}")
    assert [x["kind"] for x in page["ledger"]] == ["price_deduction", "registered"]


def test_tasks_without_event_and_bulk(users, db):
    """Kinds no event closes are marked done by the user, one or in bulk; bulk skips what
    it may not touch, each with its reason."""
    staff = users.of_role("staff")
    u = uuid.uuid4().hex[:8]
    oid = f"it-dashbulk-{u}"

    def task(kind, assignee, status="open"):
        return db.scalar("INSERT INTO tasks (order_id, kind, assignee, status, created_at, "
                         "created_by_source, created_by_id) VALUES (%s, %s, %s, %s, now(), "
                         "'shop/x', 'x') RETURNING task_id", (oid, kind, assignee, status))
    one = task("relist", staff.name)
    r = staff.post(API + f"/tasks/{one}/complete", {})
    assert r.status_code == 200 and r.json()["status"] == "done", r.text
    assert db.one("SELECT status, closed_by FROM tasks WHERE task_id = %s", (one,)) == \
        ("done", staff.name)
    r = staff.post(API + f"/tasks/{one}/complete", {})
    assert r.status_code == 409
    t = task("after_sales", "after_sales")          # a queue of staff
    r = staff.post(API + f"/tasks/{t}/complete", {"note": "x"})
    assert r.status_code == 400 and 'unexpected field "note"' in error_message(r)
    ok1, ok2 = task("cancel_done", staff.name), task("print_watch", "order_clerk")
    event_kind = task("fix_waybill", staff.name)
    done = task("relist", staff.name, "done")
    others = task("relist", "someone-else")
    r = staff.post(API + "/tasks/bulk-complete",
                   {"ids": [ok1, ok2, event_kind, done, others, 999999999999]})
    assert r.status_code == 200, r.text
    b = r.json()
    assert b["completed"] == 2 and b["skipped"] == 4, b
    why = {s["task_id"]: s["reason"] for s in b["skipped_tasks"]}
    assert "own form" in why[event_kind] and "already done" in why[done]
    assert "assigned to someone-else" in why[others] and "no such task" in why[999999999999]
    assert db.scalar("SELECT count(*) FROM tasks WHERE task_id IN (%s, %s) AND status = 'done' "
                     "AND closed_by = %s", (ok1, ok2, staff.name)) == 2
    # everything matching a filter
    f1, f2 = task("special_order", staff.name), task("special_order", staff.name)
    r = staff.post(API + "/tasks/bulk-complete",
                   {"filter": {"kind": "special_order", "order_id": oid}})
    assert r.status_code == 200 and r.json()["completed"] == 2 and not r.json()["capped"], r.text
    assert db.scalar("SELECT count(*) FROM tasks WHERE task_id IN (%s, %s) AND status = 'done'",
                     (f1, f2)) == 2
    assert [o for o, _, _ in audit_rows(db, staff.name, "task.bulk_complete")] == ["ok", "ok"]


# ---------------------------------------------------------------------------------------
# the recharge desk (R1, R4)
# ---------------------------------------------------------------------------------------

def _queue(db, prefix, n, account="13912345678"):
    """n queued recharge orders at the head of the queue (requested in 1970)."""
    db.all("UPDATE recharges SET state = 'failed', locked_by = NULL, lock_expires_at = NULL "
           "WHERE state IN ('queued', 'locked') AND requested_at < '1971-01-01'")
    ids = [f"{prefix}-q{i}" for i in range(n)]
    for i, o in enumerate(ids):
        db.all("INSERT INTO recharges (order_id, shop_id, account, product, face_value, amount, "
               "requested_at) VALUES (%s, 'it-dash', %s, 'mobile-50', 50, 49.50, "
               "timestamptz '1970-01-01' + %s * interval '1 second')", (o, account, i))
    return ids


def test_desk_lock_complete(users, db):
    staff, sup = users.of_role("staff"), users.of_role("supervisor")
    other = users.make("客服二", "staff")
    prefix = f"it-dashdesk-{uuid.uuid4().hex[:8]}"
    q = _queue(db, prefix, 2)
    r = staff.post(API + "/desk/lock", {})
    assert r.status_code == 200, r.text
    lease = r.json()["lease"]
    assert lease["order_id"] == q[0] and lease["account"] == "13912345678"
    assert isinstance(lease["lock_token"], int) and lease["attempt_id"] and lease["fresh"]
    left = (parse_ts(lease["lock_expires_at"]) - utcnow()).total_seconds()
    assert 5 < left <= 11, f"LOCK_WINDOW_S 10: the lease ends in {left} s"
    desk = staff.ok(API + "/desk")
    (mine,) = [x for x in desk["locked"] if x["order_id"] == q[0]]
    assert mine["lock_token"] == lease["lock_token"] and mine["account"] == "13912345678"
    assert q[0] in [x["order_id"] for x in desk["mine"]]
    assert desk["queue"][0]["order_id"] == q[1] and desk["queue"][0]["account"] == "*******5678"
    assert desk["queue_length"] >= 1 and desk["server_time"].endswith("Z")
    seen = [x for x in other.ok(API + "/desk")["locked"] if x["order_id"] == q[0]][0]
    assert seen["lock_token"] is None and seen["account"] == "*******5678"
    assert seen["account_masked"] is True
    seen = [x for x in sup.ok(API + "/desk")["locked"] if x["order_id"] == q[0]][0]
    assert seen["lock_token"] is None and seen["account"] == "13912345678"
    r = staff.post(API + f"/desk/{q[0]}/complete",
                   {"lock_token": lease["lock_token"], "outcome": "success", "provider_ref": "P-1"})
    assert r.status_code == 200 and r.json()["state"] == "succeeded", r.text
    row = db.one("SELECT state, handled_by, provider_ref FROM recharges WHERE order_id = %s",
                 (q[0],))
    assert row == ("succeeded", staff.name, "P-1")
    assert db.scalar("SELECT kind FROM processors_v WHERE name = %s", (staff.name,)) == "staff"
    assert db.scalar("SELECT sum(succeeded) FROM recharge_daily_v WHERE processor = %s",
                     (staff.name,)) >= 1
    r = staff.post(API + f"/desk/{q[0]}/complete",
                   {"lock_token": lease["lock_token"], "outcome": "success"})
    assert r.status_code == 409 and "succeeded now" in error_message(r), r.text
    acts = [(o, t) for o, t, _ in audit_rows(db, staff.name, "recharge.complete")]
    assert (("ok", q[0]) in acts) and (("refused", q[0]) in acts)
    assert ("ok", q[0]) in [(o, t) for o, t, _ in audit_rows(db, staff.name, "recharge.lock")]
    # release: back to the queue
    r = staff.post(API + "/desk/lock", {})
    assert r.status_code == 200 and r.json()["lease"]["order_id"] == q[1]
    tok = r.json()["lease"]["lock_token"]
    r = staff.post(API + f"/desk/{q[1]}/release", {"lock_token": tok + 1})
    assert r.status_code == 409, r.text
    r = staff.post(API + f"/desk/{q[1]}/release", {"lock_token": tok})
    assert r.status_code == 200 and r.json()["state"] == "queued", r.text
    assert db.scalar("SELECT state FROM recharges WHERE order_id = %s", (q[1],)) == "queued"
    db.all("UPDATE recharges SET state = 'failed' WHERE order_id = %s", (q[1],))


def test_desk_fencing_after_the_lease_expired(stack, users, db):
    """R1 fencing: with LOCK_WINDOW_S=1, a lease not completed within a second is lost; the
    late completion is refused (409) and changes nothing; whoever retakes the order holds
    it, and the old token cannot release it."""
    dash2 = start_dashboard(stack.services, LOCK_WINDOW_S=1)
    a = users.of_role("staff")
    b = users.make("客服二", "staff")
    a2 = dash2.client(a.name, a.password).login()
    b2 = dash2.client(b.name, b.password).login()
    prefix = f"it-dashfence-{uuid.uuid4().hex[:8]}"
    (o,) = _queue(db, prefix, 1)
    r = a2.post(API + "/desk/lock", {})
    assert r.status_code == 200 and r.json()["lease"]["order_id"] == o, r.text
    tok = r.json()["lease"]["lock_token"]
    time.sleep(1.6)
    r = a2.post(API + f"/desk/{o}/complete", {"lock_token": tok, "outcome": "success"})
    assert r.status_code == 409, r.text
    assert "expired or was taken over" in error_message(r) and "expired" in error_message(r)
    assert db.scalar("SELECT state FROM recharges WHERE order_id = %s", (o,)) == "locked"
    r = b2.post(API + "/desk/lock", {})
    assert r.status_code == 200 and r.json()["lease"]["order_id"] == o
    assert r.json()["lease"]["retaken"] is True
    r = a2.post(API + f"/desk/{o}/release", {"lock_token": tok})
    assert r.status_code == 409 and f"locked by {b.name}" in error_message(r), r.text
    assert db.scalar("SELECT count(*) FROM breaches WHERE rule = 'R1' AND actor = %s AND "
                     "subject_id LIKE %s", (a.name, o + "/%")) == 1
    db.all("UPDATE recharges SET state = 'failed', locked_by = NULL WHERE order_id = %s", (o,))


def test_desk_resolve_suspended(users, db):
    """R4: a staff member settles a suspended order; anything not suspended is a conflict."""
    staff = users.of_role("staff")
    prefix = f"it-dashres-{uuid.uuid4().hex[:8]}"
    ids = [f"{prefix}-{i}" for i in range(2)]
    for o in ids:
        db.all("INSERT INTO recharges (order_id, shop_id, account, product, face_value, amount, "
               "requested_at, state, attempts, attempt_id, result, handled_at, suspend_reason) "
               "VALUES (%s, 'it-dash', '13800001111', 'mobile-50', 50, 49.5, now(), "
               "'suspended', 1, %s, 'unknown', now(), 'provider timed out')", (o, o + "-1"))
    desk = staff.ok(API + "/desk")
    if db.scalar("SELECT count(*) FROM recharges WHERE state = 'suspended'") <= 200:
        assert set(ids) <= {x["order_id"] for x in desk["suspended"]}
        assert all(x["account_masked"] for x in desk["suspended"])
    r = staff.post(API + f"/desk/{ids[0]}/resolve", {"outcome": "success", "provider_ref": "Z9"})
    assert r.status_code == 200 and r.json()["state"] == "succeeded", r.text
    assert db.one("SELECT state, handled_by, provider_ref FROM recharges WHERE order_id = %s",
                  (ids[0],)) == ("succeeded", staff.name, "Z9")
    r = staff.post(API + f"/desk/{ids[0]}/resolve", {"outcome": "failed"})
    assert r.status_code == 409 and "not suspended" in error_message(r), r.text
    r = staff.post(API + f"/desk/{ids[1]}/resolve", {"outcome": "retry"})
    assert r.status_code == 200 and r.json()["state"] == "queued"
    db.all("UPDATE recharges SET state = 'failed' WHERE order_id = %s", (ids[1],))
    r = staff.post(API + f"/desk/{prefix}-nope/resolve", {"outcome": "success"})
    assert r.status_code == 404
    assert [o for o, t, _ in audit_rows(db, staff.name, "recharge.resolve") if t == ids[0]] == \
        ["ok", "refused"]


def _suspended(db, prefix, n, requested_at="now()"):
    """n suspended recharge orders (as test_desk_resolve_suspended makes them): R4, the
    provider's result of attempt <order>-1 was unknown."""
    ids = [f"{prefix}-{i}" for i in range(n)]
    for o in ids:
        db.all("INSERT INTO recharges (order_id, shop_id, account, product, face_value, amount, "
               "requested_at, state, attempts, attempt_id, result, handled_at, suspend_reason, "
               "last_processor) VALUES (%s, 'it-dash', '13800001111', 'mobile-50', 50, 49.5, "
               f"{requested_at}, 'suspended', 1, %s, 'unknown', now(), 'provider timed out', "
               "'desk-a')", (o, o + "-1"))
    return ids


def test_desk_resolve_bulk_ids(users, db):
    """R4 in bulk: the selected suspended orders are settled by the user, one audit row for
    the call; an order already final, or unknown, is skipped with the reason and unchanged."""
    staff = users.of_role("staff")
    prefix = f"it-dashbulkres-{uuid.uuid4().hex[:8]}"
    a, b, final = _suspended(db, prefix, 3)
    db.all("UPDATE recharges SET state = 'failed', result = 'failed', handled_by = 'someone' "
           "WHERE order_id = %s", (final,))
    before = db.scalar("SELECT coalesce(max(audit_id), 0) FROM audit_log")
    r = staff.post(API + "/desk/resolve-bulk",
                   {"outcome": "success", "provider_ref": "ZB7",
                    "ids": [a, b, final, b, f"{prefix}-nope"]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["resolved"] == 2 and body["capped"] is False, body
    why = {x["order_id"]: x["reason"] for x in body["skipped"]}
    assert set(why) == {final, f"{prefix}-nope"}, body
    assert "not suspended" in why[final] and "failed" in why[final], why
    assert "no such recharge order" in why[f"{prefix}-nope"], why
    rows = db.all("SELECT order_id, state, result, handled_by, provider_ref FROM recharges "
                  "WHERE order_id = ANY(%s) ORDER BY order_id", ([a, b, final],))
    assert rows == [(a, "succeeded", "success", staff.name, "ZB7"),
                    (b, "succeeded", "success", staff.name, "ZB7"),
                    (final, "failed", "failed", "someone", None)], rows
    # R6: the settled orders count in the user's daily record
    assert db.scalar("SELECT sum(succeeded) FROM recharge_daily_v WHERE processor = %s",
                     (staff.name,)) >= 2
    audit = db.all("SELECT outcome, target, detail FROM audit_log WHERE audit_id > %s AND "
                   "actor = %s AND action = 'recharge.resolve_bulk'", (before, staff.name))
    assert len(audit) == 1, audit
    outcome, target, detail = audit[0]
    assert outcome == "ok" and target is None
    assert detail["outcome"] == "success" and detail["resolved"] == 2
    assert detail["skipped"] == 2 and detail["ids"] == [a, b, final, f"{prefix}-nope"]
    # the same again: nothing is suspended any more
    r = staff.post(API + "/desk/resolve-bulk", {"outcome": "failed", "ids": [a]})
    assert r.status_code == 200 and r.json()["resolved"] == 0, r.text
    assert "it is succeeded" in r.json()["skipped"][0]["reason"]
    assert db.scalar("SELECT state FROM recharges WHERE order_id = %s", (a,)) == "succeeded"


def test_desk_resolve_bulk_filter(users, db):
    """Every suspended order a recharge-list filter matches (the filter is always suspended
    orders): here the ones of this test, by their request time."""
    sup = users.of_role("supervisor")
    prefix = f"it-dashbulkf-{uuid.uuid4().hex[:8]}"
    day = datetime.date(1990, 1, 1) + datetime.timedelta(days=random.randrange(3000))
    at = f"timestamptz '{day.isoformat()}T12:00:00Z'"
    db.all("UPDATE recharges SET state = 'failed' WHERE state = 'suspended' AND "
           "requested_at >= %s::date - 1 AND requested_at < %s::date + 2", (day, day))
    ids = _suspended(db, prefix, 3, requested_at=at)
    other = _suspended(db, prefix + "-other", 1)[0]  # suspended now: outside the filter
    queued = f"{prefix}-queued"
    db.all("INSERT INTO recharges (order_id, shop_id, account, product, face_value, amount, "
           f"requested_at) VALUES (%s, 'it-dash', '1', 'mobile-50', 50, 49.5, {at})", (queued,))
    f = {"state": "suspended", "from": f"{day.isoformat()}T00:00:00Z",
         "to": f"{(day + datetime.timedelta(days=1)).isoformat()}T00:00:00Z"}
    listed = sup.ok(API + "/recharges", f)["items"]
    assert {x["order_id"] for x in listed} == set(ids), listed
    r = sup.post(API + "/desk/resolve-bulk", {"outcome": "failed", "filter": f})
    assert r.status_code == 200, r.text
    assert r.json() == {"resolved": 3, "skipped": [], "capped": False}, r.json()
    assert db.all("SELECT DISTINCT state, handled_by FROM recharges WHERE order_id = ANY(%s)",
                  (ids,)) == [("failed", sup.name)]
    assert db.scalar("SELECT state FROM recharges WHERE order_id = %s", (other,)) == "suspended"
    assert db.scalar("SELECT state FROM recharges WHERE order_id = %s", (queued,)) == "queued"
    # the processor filter: who handled it last
    r = sup.post(API + "/desk/resolve-bulk",
                 {"outcome": "failed", "filter": {"order_id": other, "processor": "nobody"}})
    assert r.status_code == 200 and r.json()["resolved"] == 0, r.text
    r = sup.post(API + "/desk/resolve-bulk",
                 {"outcome": "failed", "filter": {"order_id": other, "processor": "desk-a"}})
    assert r.status_code == 200 and r.json()["resolved"] == 1, r.text
    db.all("UPDATE recharges SET state = 'failed' WHERE order_id = %s", (queued,))
    (_, _, detail), = [x for x in audit_rows(db, sup.name, "recharge.resolve_bulk")
                       if x[2].get("filter") == f]
    assert detail["outcome"] == "failed" and detail["resolved"] == 3 and "ids" not in detail


def test_desk_resolve_bulk_retry_new_attempt(users, db):
    """retry (the provider confirmed the attempt did not top up): the orders go back to the
    queue; the old attempt goes to the history and the next lock makes a new attempt id, so
    the provider cannot take it for the old one (R7)."""
    staff = users.of_role("staff")
    prefix = f"it-dashbulkrt-{uuid.uuid4().hex[:8]}"
    db.all("UPDATE recharges SET state = 'failed', locked_by = NULL, lock_expires_at = NULL "
           "WHERE state IN ('queued', 'locked') AND requested_at < '1971-01-01'")
    ids = _suspended(db, prefix, 2, requested_at="timestamptz '1970-01-01'")
    r = staff.post(API + "/desk/resolve-bulk", {"outcome": "retry", "ids": ids})
    assert r.status_code == 200 and r.json()["resolved"] == 2, r.text
    rows = db.all("SELECT state, attempt_id, suspend_reason FROM recharges "
                  "WHERE order_id = ANY(%s)", (ids,))
    assert rows == [("queued", None, None)] * 2, rows
    assert db.scalar("SELECT count(*) FROM recharge_attempts WHERE attempt_id = ANY(%s) "
                     "AND status = 'failed'", ([o + "-1" for o in ids],)) == 2
    r = staff.post(API + "/desk/lock", {})
    assert r.status_code == 200, r.text
    lease = r.json()["lease"]
    assert lease["order_id"] in ids, lease
    assert lease["attempt_id"] and lease["attempt_id"] != lease["order_id"] + "-1", lease
    assert lease["attempt_id"] == lease["order_id"] + "-2", lease
    db.all("UPDATE recharges SET state = 'failed', locked_by = NULL, lock_expires_at = NULL "
           "WHERE order_id = ANY(%s)", (ids,))
    acts = audit_rows(db, staff.name, "recharge.resolve_bulk")
    assert any(d.get("outcome") == "retry" and d.get("ids") == ids for _, _, d in acts)


# ---------------------------------------------------------------------------------------
# dead letters (G4)
# ---------------------------------------------------------------------------------------

def _dead_letter(db, stack, source, event_id):
    return wait_until(lambda: db.scalar("SELECT dl_id FROM dead_letters WHERE event_source = %s "
                                        "AND event_id = %s", (source, event_id)),
                      60, f"the dead letter of {event_id}", running=stack.running)


def test_dead_letter_replay(stack, users, db, publisher):
    """A payment that came before its order is dead-lettered; once the order exists, the
    replay republishes it unchanged and it applies. A replayed letter, a non-JSON payload
    and an unknown id are skipped with their reasons; the CLI uses the same code."""
    ops = users.of_role("operations")
    e = Events("dl")
    o1, o2, o3, o4 = e.order(), e.order(), e.order(), e.order()
    early = [e.paid(o) for o in (o1, o2, o3, o4)]
    publish(publisher, *early)
    dls = [_dead_letter(db, stack, e.source, ev["id"]) for ev in early]
    reason = db.scalar("SELECT reason FROM dead_letters WHERE dl_id = %s", (dls[0],))
    listed = ops.ok(API + "/dead-letters", {"source": e.source})["items"]
    assert {x["dl_id"] for x in listed} == set(dls)
    assert {x["dl_id"]: x["reason"] for x in listed}[dls[0]] == reason
    assert "order.created must come first" in reason
    created = [e.created(o) for o in (o1, o2, o3, o4)]
    publish(publisher, *created)
    wait_applied(db, stack, *created)
    junk = f"not json {e.run} {{".encode()
    publisher.raw(junk, key=o1.encode())
    publisher.flush()
    junk_id = wait_until(lambda: db.scalar("SELECT dl_id FROM dead_letters WHERE payload_text = "
                                           "%s", (junk.decode(),)), 60, "the junk dead letter")
    r = ops.post(API + "/dead-letters/replay", {"ids": [dls[0], junk_id, 999999999999]})
    assert r.status_code == 200, r.text
    b = r.json()
    assert b["replayed"] == 1, b
    why = {s["dl_id"]: s["reason"] for s in b["skipped"]}
    assert "not JSON" in why[junk_id] and "no such dead letter" in why[999999999999], why
    wait_applied(db, stack, early[0], replayed=True)
    assert db.scalar("SELECT state FROM orders WHERE order_id = %s", (o1,)) == "paid"
    assert db.scalar("SELECT replayed_at IS NOT NULL FROM dead_letters WHERE dl_id = %s",
                     (dls[0],))
    r = ops.post(API + "/dead-letters/replay", {"ids": [dls[0]]})
    assert r.status_code == 200 and r.json()["replayed"] == 0
    assert "already replayed" in r.json()["skipped"][0]["reason"]
    # everything matching a filter: the letters of this source not replayed yet
    r = ops.post(API + "/dead-letters/replay", {"filter": {"source": e.source,
                                                           "type": "order.paid"}})
    assert r.status_code == 200, r.text
    assert r.json()["replayed"] == 3 and r.json()["matched"] == 3, r.json()
    wait_applied(db, stack, *early[1:], replayed=True)
    assert db.scalar("SELECT count(*) FROM orders WHERE order_id = ANY(%s) AND state = 'paid'",
                     ([o2, o3, o4],)) == 3
    listed = ops.ok(API + "/dead-letters", {"source": e.source, "replayed": "false"})["items"]
    assert listed == []
    acts = audit_rows(db, ops.name, "deadletter.replay")
    assert [o for o, _, _ in acts] == ["ok", "ok", "ok"] and acts[-1][2]["replayed"] == 3


def test_admin_replay_cli(stack, db, publisher):
    """orderflow-admin replay --ids / --source: the same replay from the command line."""
    e = Events("cli")
    o = e.order()
    early = e.paid(o)
    publish(publisher, early)
    dl = _dead_letter(db, stack, e.source, early["id"])
    r = admin("replay", check=False)
    assert r.returncode == 2 and b"say which letters" in r.stderr
    r = admin("replay", "--ids", "1,x", check=False)
    assert r.returncode == 2
    created = e.created(o)
    publish(publisher, created)
    wait_applied(db, stack, created)
    out = admin("replay", "--ids", str(dl)).stdout.decode()
    assert "replayed 1 dead letter(s)" in out, out
    wait_applied(db, stack, early, replayed=True)
    assert db.scalar("SELECT state FROM orders WHERE order_id = %s", (o,)) == "paid"
    out = admin("replay", "--source", e.source).stdout.decode()
    assert "replayed 0 dead letter(s) of 0 selected" in out, out
    out = admin("replay", "--ids", str(dl)).stdout.decode()
    assert f"skipped {dl}: already replayed" in out, out


# ---------------------------------------------------------------------------------------
# remittances (M4, M7, M8)
# ---------------------------------------------------------------------------------------

def test_remittance_verify_and_review(stack, users, db, publisher):
    from remit_lib import RIds, free_day, items, publish as rpublish, settle
    rids = RIds("dashremit")
    sup, staff = users.of_role("supervisor"), users.of_role("staff")
    r1, r2 = rids.remit(), rids.remit()
    buyer = rids.buyer()
    evs = [rids.ordered(r1, buyer, "小美", items(("A1", 1))),
           rids.notified(r1, buyer, "小美", "88.00"),
           rids.ordered(r2, buyer, "小美", items(("A2", 1))),
           rids.notified(r2, buyer, "小美", "66.00")]
    rpublish(publisher, *evs)
    settle(db, evs, running=stack.running)
    rows = staff.ok(API + "/remittances", {"buyer_id": buyer})["items"]
    assert {x["remit_id"] for x in rows} == {r1, r2}
    assert all(x["state"] == "notified" and x["aging_s"] >= 0 for x in rows)
    r = sup.post(API + f"/remittances/{r1}/verify", {"amount": "88.00"})
    assert r.status_code == 200 and r.json()["status"] == "applied", r.text
    row = db.one("SELECT state, verified_by FROM remittances WHERE remit_id = %s", (r1,))
    assert row == ("verified", sup.name)
    r = sup.post(API + f"/remittances/{r2}/verify", {"amount": "60.00"})
    assert r.status_code == 422 and "differs" in error_message(r), r.text
    r = sup.post(API + f"/remittances/{r2}-nope/verify", {"amount": "60.00"})
    assert r.status_code == 404
    r = staff.post(API + f"/remittances/{r2}/verify", {"amount": "66.00"})
    assert r.status_code == 403
    assert [o for o, t, _ in audit_rows(db, sup.name, "remittance.verify") if t == r2] == \
        ["refused"]
    assert [o for o, t, _ in audit_rows(db, sup.name, "remittance.verify") if t == r1] == ["ok"]
    day = free_day(db)
    r = sup.post(API + f"/remittance-days/{day}/review", {})
    assert r.status_code == 200 and r.json()["status"] == "applied", r.text
    assert db.scalar("SELECT supervisor FROM remittance_reviews WHERE day = %s", (day,)) == \
        sup.name
    r = sup.post(API + f"/remittance-days/{day}/review", {})
    assert r.status_code == 422 and "already reviewed" in error_message(r), r.text
    assert [o for o, _, _ in audit_rows(db, sup.name, "remittance.review")][-2:] == \
        ["ok", "refused"]


def test_remittance_csv_download(stack, users, db, publisher):
    """M7: the day's record as a UTF-8 CSV attachment, byte for byte what
    `orderflow-admin remittance-csv DAY` prints (the same code)."""
    from remit_lib import RIds, free_day, items, publish as rpublish, settle, shop_time
    rids = RIds("dashcsv")
    staff = users.of_role("staff")
    day = free_day(db)
    at = shop_time(day, 10)
    buyer = rids.buyer()
    r1, r2 = rids.remit(), rids.remit()
    evs = [rids.ordered(r1, buyer, "小美", items(("A1", 2, "M")), at=at,
                        address='廣州市天河區, "體育西路" 1號'),
           rids.ordered(r2, buyer, "小美", items(("B2", 1)), at=at),
           rids.notified(r2, buyer, "小美", "66.00", at=at)]
    rpublish(publisher, *evs)
    settle(db, evs, running=stack.running)
    r = staff.get(API + f"/remittance-days/{day}/csv")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert r.headers["Content-Disposition"] == f'attachment; filename="remittance-{day}.csv"'
    text = r.content.decode("utf-8")
    lines = text.split("\r\n")
    assert lines[0].startswith("日期,匯款單號,買家,是否拍下,商品,收貨地址") and lines[-1] == ""
    assert len(lines) == 4, lines
    assert '"廣州市天河區, ""體育西路"" 1號"' in text
    assert r.content == admin("remittance-csv", str(day)).stdout
    empty = staff.get(API + "/remittance-days/1999-01-02/csv")
    assert empty.status_code == 200 and empty.content.count(b"\r\n") == 1


# ---------------------------------------------------------------------------------------
# the audit log
# ---------------------------------------------------------------------------------------

def test_audit_list(users, db):
    """Every action leaves a row; supervisors and operations read them, filtered."""
    ops, staff = users.of_role("operations"), users.of_role("staff")
    r = staff.post(API + "/desk/x/resolve", {"outcome": "later"})
    assert r.status_code == 400
    rows = ops.ok(API + "/audit", {"actor": staff.name, "action": "recharge.resolve",
                                   "outcome": "refused"})["items"]
    assert rows and rows[0]["target"] == "x" and rows[0]["role"] == "staff"
    assert "outcome must be one of" in rows[0]["detail"]["message"]
    assert rows[0]["detail"]["status"] == 400

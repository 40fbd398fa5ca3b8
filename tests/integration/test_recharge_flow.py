"""Direct recharge (SPEC R1-R7), the flow through one recharge-worker: orders queued from
shop.recharges, taken under a lease, the provider called (the test provider, a separate
process), results committed; suspensions alerted through the webhook (a separate process)
and ops.alerts; bad events dead-lettered with reasons; R3 breaches for late results.
Lease races and crashes are in test_recharge_lease.py."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "provider"))

from conftest import TOPIC_DEADLETTER, end_offsets, read_topic  # noqa: E402
from harness import (TOPIC_ALERTS, provider, publish, requested, result,  # noqa: E402,F401
                     rfc3339, rworkers, wait_for, wait_states, webhook)


def test_requests_queued_and_topped_up_once(db, publisher, ids, provider, rworkers):
    ok, no = f"{ids.prefix}-ok", f"{ids.prefix}-no"
    provider.configure(accounts={ok: {"latency_ms": 20, "outcome": "success"},
                                 no: {"latency_ms": 20, "outcome": "failed"}})
    w = rworkers.start()
    good = [ids.order() for _ in range(20)]
    bad = [ids.order() for _ in range(5)]
    publish(publisher, [requested(ids, o, ok) for o in good] +
            [requested(ids, o, no, amount="10.00") for o in bad])
    wait_states(db, good, {"succeeded"}, 30)
    wait_states(db, bad, {"failed"}, 30)

    rows = db.all("SELECT order_id, locked_by, lock_expires_at, attempts, result, result_at, "
                  "handled_at, handled_by, attempt_id, provider_ref FROM recharges_v "
                  "WHERE order_id = ANY(%s)", (good + bad,))
    for (o, locked_by, expires, attempts, res, result_at, handled_at, by, attempt,
         ref) in rows:
        assert locked_by is None and expires is None, f"{o}: lease not released"
        assert attempts == 1 and attempt == f"{o}-1"
        assert res == ("success" if o in good else "failed")
        assert by == w.processor
        assert result_at <= handled_at
        assert (handled_at - result_at).total_seconds() < 10
        assert (ref or "").startswith("P-") == (o in good)
    att = db.scalar("SELECT count(*) FROM recharge_attempts_v WHERE order_id = ANY(%s)",
                    (good + bad,))
    assert att == 25
    stats = provider.stats(ids.prefix)
    assert stats["max_topups"] == 1
    assert sum(stats["topups"].values()) == 20
    assert all(n == 1 for n in stats["posts"].values()), "an attempt was POSTed twice"

    # R6: the daily record counts them for this processor
    row = db.one("SELECT sum(locked), sum(succeeded), sum(failed), sum(amount) "
                 "FROM recharge_daily_v WHERE processor = %s", (w.processor,))
    assert row[0] == 25 and row[1] == 20 and row[2] == 5
    assert float(row[3]) == 20 * 49.50
    assert w.metric("orderflow_recharge_outcomes_total", {"state": "succeeded"}) == 20
    assert w.metric("orderflow_recharge_provider_calls_total", {"call": "recharge"}) == 25


def test_bad_events_dead_lettered_with_reasons(db, publisher, ids, rworkers):
    w = rworkers.start()
    dl_start = end_offsets(TOPIC_DEADLETTER)
    known = ids.order()
    cases = {
        "negative amount": (requested(ids, ids.order(), "acc", amount="-5.00"),
                            ["data.amount"]),
        "zero amount": (requested(ids, ids.order(), "acc", amount="0.00"),
                        ["data.amount", "more than 0"]),
        "zero face value": (requested(ids, ids.order(), "acc", face_value="0"),
                            ["data.face_value", "more than 0"]),
        "unknown product": (requested(ids, ids.order(), "acc", product="gold-bars-1kg"),
                            ["data.product", "unknown product", "gold-bars-1kg"]),
        "duplicate order id": (requested(ids, known, "acc", event_id=f"{known}-again"),
                               ["duplicate order id", known]),
        "result for an unknown attempt": (result(ids, known, f"{known}-9", "success"),
                                          ["unknown attempt", f"{known}-9"]),
        "result for an unknown order": (result(ids, f"{ids.prefix}-nosuch",
                                               f"{ids.prefix}-nosuch-1", "success"),
                                        ["unknown attempt", "unknown recharge order"]),
    }
    first = requested(ids, known, "acc")
    sent = publish(publisher, [first] + [ev for ev, _ in cases.values()])
    by_id = {s.event["id"]: s for s in sent}

    def dead():
        # an event that fails its schema is not decoded: no event_id, found by its payload
        return {json.loads(r[0])["id"]: r[1] for r in db.all(
            "SELECT payload_text, reason FROM dead_letters WHERE payload_text LIKE %s",
            (f"%{ids.source}%",))}
    got = wait_for(lambda: len(dead()) >= len(cases) and dead(), 60, "the dead letters")
    for name, (ev, needles) in cases.items():
        reason = got.get(ev["id"])
        assert reason, f"{name}: no dead letter"
        for n in needles:
            assert n in reason, f"{name}: reason {reason!r} lacks {n!r}"
    assert first["id"] not in got
    wait_states(db, [known], {"succeeded", "locked", "queued"}, 10)
    # the dead letters are on shop.deadletter too, with the reason in a header
    msgs = read_topic(TOPIC_DEADLETTER, dl_start,
                      lambda ms: sum(1 for m in ms if ids.source.encode() in m.value())
                      >= len(cases), timeout=30)
    mine = [m for m in msgs if ids.source.encode() in m.value()]
    assert len(mine) >= len(cases)
    assert all(dict(m.headers()).get("of_reason") for m in mine)
    # nothing of the bad ones was queued
    bad_orders = [ev["subject"] for n, (ev, _) in cases.items()
                  if ev["type"] == "recharge.requested" and n != "duplicate order id"]
    assert db.scalar("SELECT count(*) FROM recharges WHERE order_id = ANY(%s)",
                     (bad_orders,)) == 0
    assert w.alive()
    assert by_id  # published


def _alert_rows(db, order):
    return db.all("SELECT kind, rule, sent_at, published_at, payload FROM alerts_v "
                  "WHERE subject_id = %s ORDER BY alert_id", (order,))


def test_unknown_outcomes_suspended_and_alerted_within_1s(db, publisher, ids, provider, webhook,
                                                          rworkers):
    accs = {name: f"{ids.prefix}-{name}" for name in
            ("unknown", "timeout", "http500", "pending", "status-unknown")}
    provider.configure(accounts={
        accs["unknown"]: {"latency_ms": 30, "outcome": "unknown"},
        accs["timeout"]: {"latency_ms": 0, "outcome": "timeout"},
        accs["http500"]: {"latency_ms": 30, "outcome": "http500"},
        accs["pending"]: {"latency_ms": 30, "outcome": "pending", "pending_ms": 60000},
    })
    alerts_start = end_offsets(TOPIC_ALERTS)
    w = rworkers.start(webhook_url=webhook.url, RECHARGE_CALL_TIMEOUT_MS=1500,
                       RECHARGE_PENDING_MAX_S=2, RECHARGE_PENDING_POLL_MS=300)
    orders = {name: ids.order() for name in ("unknown", "timeout", "http500", "pending")}
    publish(publisher, [requested(ids, o, accs[name]) for name, o in orders.items()])
    wait_states(db, orders.values(), {"suspended"}, 30)

    for name, o in orders.items():
        res, result_at, handled_at, why = db.one(
            "SELECT result, result_at, handled_at, suspend_reason FROM recharges_v "
            "WHERE order_id = %s", (o,))
        assert res == ("pending" if name == "pending" else "unknown"), (name, res)
        assert why, f"{name}: no suspension reason"
        # R4: the webhook got it within 1 s of the result
        got = wait_for(lambda: [r for r in webhook.received(o) if r["status"] == 200], 5,
                       f"the webhook POST for {name}")
        body = got[0]["body"]
        assert body["kind"] == "suspended" and body["rule"] == "R4" and body["subject_id"] == o
        assert body["reason"] and body["at"]
        delay = got[0]["t"] - result_at.timestamp()
        assert delay <= 1.0, f"{name}: webhook received {delay:.3f} s after the result"
        assert len(got) == 1, f"{name}: alert sent {len(got)} times"
        rows = wait_for(lambda: [r for r in _alert_rows(db, o) if r[0] == "suspended"
                                 and r[2] is not None and r[3] is not None], 10,
                        f"alert row of {name} marked sent and published")
        assert rows[0][1] == "R4"
    assert "time-out" in db.scalar("SELECT suspend_reason FROM recharges WHERE order_id = %s",
                                   (orders["timeout"],))
    assert "HTTP 500" in db.scalar("SELECT suspend_reason FROM recharges WHERE order_id = %s",
                                   (orders["http500"],))
    assert "pending" in db.scalar("SELECT suspend_reason FROM recharges WHERE order_id = %s",
                                  (orders["pending"],))
    # and on ops.alerts
    want = set(orders.values())
    msgs = read_topic(TOPIC_ALERTS, alerts_start,
                      lambda ms: want <= {json.loads(m.value()).get("subject_id") for m in ms},
                      timeout=30)
    seen = {json.loads(m.value())["subject_id"]: json.loads(m.value()) for m in msgs}
    assert want <= set(seen), f"not on ops.alerts: {want - set(seen)}"
    assert all(seen[o]["kind"] == "suspended" for o in want)
    assert w.metric("orderflow_recharge_outcomes_total", {"state": "suspended"}) >= 4
    # the daily record counts the suspensions
    assert db.scalar("SELECT sum(suspended) FROM recharge_daily_v WHERE processor = %s",
                     (w.processor,)) == 4


def test_webhook_down_alerts_retried_processing_unaffected(db, publisher, ids, provider, webhook,
                                                           rworkers):
    acc_unknown, acc_ok = f"{ids.prefix}-unknown", f"{ids.prefix}-ok"
    provider.configure(accounts={acc_unknown: {"latency_ms": 10, "outcome": "unknown"},
                                 acc_ok: {"latency_ms": 10, "outcome": "success"}})
    webhook.kill()  # down
    w = rworkers.start(webhook_url=webhook.url)
    suspended = ids.order()
    others = [ids.order() for _ in range(30)]
    publish(publisher, [requested(ids, suspended, acc_unknown)])
    wait_states(db, [suspended], {"suspended"}, 20)
    # retried with backoff while the receiver is down ...
    wait_for(lambda: (db.scalar("SELECT attempts FROM alerts WHERE subject_id = %s AND "
                                "kind = 'suspended'", (suspended,)) or 0) >= 3, 30,
             "three delivery attempts")
    row = db.one("SELECT sent_at, published_at, last_error FROM alerts WHERE subject_id = %s "
                 "AND kind = 'suspended'", (suspended,))
    assert row[0] is None and row[1] is not None and "webhook" in (row[2] or "")
    # ... and processing goes on meanwhile
    t0 = time.monotonic()
    publish(publisher, [requested(ids, o, acc_ok) for o in others])
    wait_states(db, others, {"succeeded"}, 20)
    assert time.monotonic() - t0 < 10
    # then a failing receiver (503): still retried
    webhook.start()
    webhook.mode(503)
    wait_for(lambda: any(r["status"] == 503 for r in webhook.received(suspended)), 40,
             "a retry reaching the failing receiver")
    assert db.scalar("SELECT sent_at FROM alerts WHERE subject_id = %s AND kind = 'suspended'",
                     (suspended,)) is None
    webhook.mode(200)
    wait_for(lambda: db.scalar("SELECT sent_at FROM alerts WHERE subject_id = %s AND "
                               "kind = 'suspended'", (suspended,)), 70, "the alert delivered")
    ok = [r for r in webhook.received(suspended) if r["status"] == 200]
    assert len(ok) == 1
    assert w.metric("orderflow_recharge_alert_failures_total") >= 3


def test_pending_then_final_polled_until_success(db, publisher, ids, provider, rworkers):
    acc = f"{ids.prefix}-pend"
    provider.configure(accounts={acc: {"latency_ms": 20, "outcome": "pending",
                                       "pending_ms": 1500, "final": "success"}})
    rworkers.start(RECHARGE_PENDING_POLL_MS=200, RECHARGE_PENDING_MAX_S=20)
    o = ids.order()
    publish(publisher, [requested(ids, o, acc)])
    wait_states(db, [o], {"succeeded"}, 20)
    stats = provider.stats(o)
    assert stats["topups"] == {o: 1} and stats["posts"] == {o: 1}
    assert stats["status_queries"][o] >= 2


def test_result_events(db, publisher, ids, provider, webhook, rworkers):
    """recharge.result from Kafka: the provider's word on an attempt. success/failed settle an
    order that is waiting (here: the provider keeps saying pending); unknown suspends; a
    result handled more than RESULT_WINDOW_S after its time is an R3 breach + alert."""
    acc = f"{ids.prefix}-slow"
    provider.configure(accounts={acc: {"latency_ms": 20, "outcome": "pending",
                                       "pending_ms": 600000}})
    w = rworkers.start(webhook_url=webhook.url, RECHARGE_PENDING_MAX_S=120,
                       RECHARGE_PENDING_POLL_MS=500)
    a, b, c = ids.order(), ids.order(), ids.order()
    publish(publisher, [requested(ids, o, acc) for o in (a, b, c)])
    wait_for(lambda: db.scalar("SELECT count(*) FROM recharges WHERE order_id = ANY(%s) "
                               "AND state = 'locked'", ([a, b, c],)) == 3, 20, "3 leases")
    wait_for(lambda: len(provider.calls(c)) >= 1 and len(provider.calls(a)) >= 1
             and len(provider.calls(b)) >= 1, 10, "the provider calls")
    publish(publisher, [result(ids, a, f"{a}-1", "success", provider_ref="MINI-1"),
                        result(ids, b, f"{b}-1", "unknown"),
                        result(ids, c, f"{c}-1", "failed", time_=rfc3339(time.time() - 30))])
    wait_states(db, [a], {"succeeded"}, 20)
    wait_states(db, [b], {"suspended"}, 20)
    wait_states(db, [c], {"failed"}, 20)
    assert db.scalar("SELECT provider_ref FROM recharges WHERE order_id = %s", (a,)) == "MINI-1"
    # R3: c's result was 30 s old when handled
    br = db.one("SELECT actor, deadline, detail FROM breaches_v WHERE rule = 'R3' AND "
                "subject_id = %s", (c,))
    assert br is not None, "no R3 breach for the late result"
    assert float(br[2]["late_s"]) >= 29
    assert db.one("SELECT 1 FROM breaches_v WHERE rule = 'R3' AND subject_id = %s", (a,)) is None
    wait_for(lambda: [r for r in webhook.received(c) if r["body"].get("rule") == "R3"], 10,
             "the R3 alert at the webhook")
    wait_for(lambda: [r for r in webhook.received(b) if r["body"].get("rule") == "R4"], 10,
             "the R4 alert at the webhook")
    # the desk's later write for these orders is refused, never resurrecting them
    time.sleep(1.5)
    assert db.one("SELECT state FROM recharges WHERE order_id = %s", (a,))[0] == "succeeded"
    # a repeated or contradicting result changes nothing final; a contradiction is alerted
    publish(publisher, [result(ids, a, f"{a}-1", "success", event_id=f"{a}-again"),
                        result(ids, a, f"{a}-1", "failed", event_id=f"{a}-contra")])
    wait_for(lambda: db.one("SELECT 1 FROM alerts WHERE subject_id = %s AND kind = "
                            "'result_conflict'", (a,)), 20, "the R7 conflict alert")
    assert db.one("SELECT state, result FROM recharges WHERE order_id = %s", (a,)) == \
        ("succeeded", "success")
    assert db.scalar("SELECT reported_status FROM recharge_attempts_v WHERE attempt_id = %s",
                     (f"{a}-1",)) == "failed"
    assert w.alive()


def test_sigterm_commits_calls_in_flight_and_releases_the_rest(db, publisher, ids, provider,
                                                                rworkers):
    """G5 for the desk: on SIGTERM no new lease is taken, the calls in flight are waited for
    and committed, orders the provider keeps pending are released to the queue (their next
    holder reconciles the attempt), the processor is marked offline, and it exits 0."""
    slow, pend = f"{ids.prefix}-slow", f"{ids.prefix}-pend"
    provider.configure(accounts={slow: {"latency_ms": 1500, "outcome": "success"},
                                 pend: {"latency_ms": 10, "outcome": "pending",
                                        "pending_ms": 600000}})
    w = rworkers.start(RECHARGE_PENDING_MAX_S=600, RECHARGE_PENDING_POLL_MS=200)
    in_flight = [ids.order() for _ in range(5)]
    pending = [ids.order() for _ in range(3)]
    publish(publisher, [requested(ids, o, slow) for o in in_flight] +
            [requested(ids, o, pend) for o in pending])
    wait_for(lambda: db.scalar("SELECT count(*) FROM recharges WHERE order_id = ANY(%s) AND "
                               "locked_by = %s", (in_flight + pending, w.processor)) == 8, 20,
             "8 leases")
    wait_for(lambda: len(provider.calls(ids.prefix)) >= 8, 10, "the calls")
    t0 = time.monotonic()
    assert w.stop(timeout=30) == 0
    assert time.monotonic() - t0 < 10
    for o, state, locked_by, attempt in db.all(
            "SELECT order_id, state, locked_by, attempt_id FROM recharges "
            "WHERE order_id = ANY(%s)", (in_flight + pending,)):
        if o in in_flight:
            assert state == "succeeded", f"{o}: {state}"
        else:
            assert (state, locked_by, attempt) == ("queued", None, f"{o}-1"), o
    assert db.scalar("SELECT online_since FROM processors WHERE name = %s",
                     (w.processor,)) is None
    # the next holder reconciles the released attempts: no second top-up request
    rworkers.start(RECHARGE_PENDING_MAX_S=2, RECHARGE_PENDING_POLL_MS=200)
    wait_states(db, pending, {"succeeded", "suspended"}, 30)
    for o in pending:
        st = provider.stats(o)
        assert st["posts"] == {o: 1} and st["topups"].get(o, 0) <= 1, st

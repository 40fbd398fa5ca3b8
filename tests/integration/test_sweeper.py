"""The sweeper (SPEC M3, T1, T3; issue 5): deadlines counted from each event's own `time`
against the database clock, so the tests publish back-dated events through the real
pipeline (order-worker and remittance-worker) and run orderflow-sweeper processes with a
short cycle. Each breach is a breaches_v row and an alert delivered once to ops.alerts and
to the ops webhook (a receiver run as a subprocess), with several sweepers at once, with the
webhook down, and with a sweeper killed (SIGKILL) and restarted.

The stack is shared with the other suites, whose old events (2024 payments, old notices)
are past every deadline: a module fixture first lets one sweeper work that backlog off, so
each test's small SWEEP_LIMIT reaches its own subjects."""
import datetime
import time

import pytest

from conftest import wait_until
from remit_lib import pipeline, rids, services, webhook  # noqa: F401 (fixtures)
from remit_lib import (SHOP_TZ, AlertTopic, Services, add_staff, ago, alert_rows, assert_applied,
                       breach_rows, items, order_row, send, shop_date, shop_time, utcnow)

M3_DAYS = 3
DAY = datetime.timedelta(days=1)


@pytest.fixture(scope="module", autouse=True)
def backlog_drained(db):
    """One sweeper (no webhook, large SWEEP_LIMIT) records every breach already due in the
    shared database and delivers every pending alert, then stops."""
    svc = Services("sweeper-backlog")
    s = svc.sweeper(SWEEP_LIMIT=100000, SWEEP_INTERVAL_MS=100)
    pending = "SELECT count(*) FROM alerts WHERE sent_at IS NULL OR published_at IS NULL"
    try:
        last = None
        deadline = time.monotonic() + 600
        while True:
            s.check_running("while working off the backlog")
            c = s.cycles()
            found = s.metric("orderflow_breaches_total")
            state = (found, db.scalar(pending))
            if c >= 2 and state[1] == 0 and last and last[0] == state[0] and c >= last[1] + 2:
                break
            if last is None or state[0] != last[0] or state[1] != 0:
                last = (state[0], c)
            assert time.monotonic() < deadline, "the backlog was not worked off in 600 s"
            time.sleep(0.2)
    finally:
        svc.close()
    yield


def _remittance_due(db, publisher, pipeline, rids, *, notice_age, overseas=None, n=1,
                    staff=None):
    """n remittances ordered a day before their notice, noticed notice_age ago."""
    staff = staff or rids.staff("小美")
    out, evs = [], []
    for _ in range(n):
        r, buyer = rids.remit(), rids.buyer()
        evs += [rids.ordered(r, buyer, staff, items(("COAT-BLK", 1)), overseas=overseas,
                             at=utcnow() - notice_age - DAY),
                rids.notified(r, buyer, rids.staff("接單"), "299.00", at=utcnow() - notice_age)]
        out.append(r)
    assert_applied(send(db, publisher, pipeline, *evs), *evs)
    return out


def _notified_at(db, r):
    return db.scalar("SELECT notified_at FROM remittances WHERE remit_id = %s", (r,))


def _delivered(db, subjects):
    """The subjects whose alert both channels took."""
    return {s for (s,) in db.all("SELECT subject_id FROM alerts WHERE subject_id = ANY(%s) "
                                 "AND sent_at IS NOT NULL AND published_at IS NOT NULL",
                                 (list(subjects),))}


def _wait_cycles(sweepers, more, timeout=60):
    start = [s.cycles() for s in sweepers]
    wait_until(lambda: all(s.cycles() >= c + more for s, c in zip(sweepers, start)), timeout,
               f"{more} more sweep(s) of each sweeper", running=sweepers)


def _count(values):
    out = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return out


# ---------------------------------------------------------------------------------------
# M3
# ---------------------------------------------------------------------------------------

def test_m3_breach_once_with_two_sweepers_topic_and_webhook(db, publisher, pipeline, rids,
                                                            services, webhook):
    topic = AlertTopic()
    hook = webhook().start()
    staff = rids.staff("小美")
    due = _remittance_due(db, publisher, pipeline, rids, notice_age=4 * DAY, n=30, staff=staff)
    overseas = _remittance_due(db, publisher, pipeline, rids, notice_age=4 * DAY,
                               overseas=True, staff=staff)[0]
    fresh = _remittance_due(db, publisher, pipeline, rids, notice_age=2 * DAY, n=3)
    almost = _remittance_due(db, publisher, pipeline, rids,
                             notice_age=3 * DAY - datetime.timedelta(minutes=10))
    # notified 5 days ago but verified since; ordered 5 days ago and never notified;
    # noticed 5 days ago, then noticed again yesterday (a new notice restarts the clock)
    boss = add_staff(rids.staff("陳主管"), "supervisor")
    verified = _remittance_due(db, publisher, pipeline, rids, notice_age=5 * DAY)[0]
    renewed = _remittance_due(db, publisher, pipeline, rids, notice_age=5 * DAY)[0]
    silent, buyer = rids.remit(), rids.buyer()
    renewed_buyer = db.scalar("SELECT buyer_id FROM remittances WHERE remit_id = %s",
                              (renewed,))
    evs = [rids.verified(verified, boss, "299.00", at=ago(days=4)),
           rids.notified(renewed, renewed_buyer, staff, "299.00", at=ago(days=1)),
           rids.ordered(silent, buyer, staff, items(("A", 1)), at=ago(days=5))]
    assert_applied(send(db, publisher, pipeline, *evs), *evs)
    late = due + [overseas]
    quiet = fresh + almost + [verified, renewed, silent]

    # two sweepers at once, each taking a few rows per cycle, both delivering
    env = dict(SWEEP_LIMIT=7, OPS_WEBHOOK_URL=hook.url)
    sweepers = [services.sweeper(**env), services.sweeper(**env)]
    wait_until(lambda: _delivered(db, late) == set(late), 60,
               "every M3 alert delivered to both channels", running=sweepers)
    _wait_cycles(sweepers, 15)  # many more sweeps of both

    breaches = breach_rows(db, rids.prefix)
    by = _count(b["subject_id"] for b in breaches)
    assert by == {r: 1 for r in late}, f"M3 breaches: {by}"
    for b in breaches:
        assert b["rule"] == "M3" and b["actor"] == staff, b
        want = _notified_at(db, b["subject_id"]) + M3_DAYS * DAY
        assert datetime.datetime.fromisoformat(b["deadline"]) == want, b
    alerts = alert_rows(db, rids.prefix)
    assert _count(a["subject_id"] for a in alerts) == {r: 1 for r in late}
    assert all(a["kind"] == "breach" and a["rule"] == "M3" and a["sent_at"] for a in alerts)

    # ops.alerts: exactly one message each (read on well past the last one)
    got = topic.read(set(late) | set(quiet), want=lambda res: False, timeout=4)
    assert {s: len(v) for s, v in got.items()} == {r: 1 for r in late}, \
        f"ops.alerts messages per subject: { {s: len(v) for s, v in got.items()} }"
    # the webhook: exactly one POST each, all answered 200
    hooks = hook.delivered(rids.prefix)
    assert hooks == {r: 1 for r in late}, f"webhook POSTs per subject: {hooks}"
    assert len(hook.records(rids.prefix)) == len(late)
    # the payload (SPEC §7) and the contact channel (M3)
    rec = {r["body"]["subject_id"]: r for r in hook.records(rids.prefix)}
    for r in late:
        p = rec[r]["body"]
        assert rec[r]["content_type"].startswith("application/json")
        assert {"kind", "rule", "subject_id", "reason", "at"} <= set(p), p
        assert p["kind"] == "breach" and p["rule"] == "M3" and p["subject_id"] == r
        assert p["staff"] == staff and staff in p["reason"], "M3 alerts the original staff"
        assert got[r][0] == p, "the topic and the webhook carry the same payload"
        if r == overseas:
            assert "no phone" in p["contact"] and "else phone" not in p["contact"], p
        else:
            assert "online" in p["contact"] and "phone" in p["contact"] and \
                "no phone" not in p["contact"], p
    # nothing for the others
    for r in quiet:
        assert db.scalar("SELECT m3_breached_at FROM remittances WHERE remit_id = %s",
                         (r,)) is None, f"{r} should not be breached"


def test_m3_days_are_configurable(db, publisher, pipeline, rids, services):
    r2, r1 = (_remittance_due(db, publisher, pipeline, rids, notice_age=a)[0]
              for a in (2 * DAY + datetime.timedelta(hours=1), datetime.timedelta(hours=20)))
    s = services.sweeper(REMITTANCE_VERIFY_DAYS=1, SWEEP_LIMIT=1000)
    wait_until(lambda: _delivered(db, [r2]) == {r2}, 30, "the M3 alert of a 2-day-old notice "
               "with REMITTANCE_VERIFY_DAYS=1", running=[s])
    _wait_cycles([s], 3)
    b = breach_rows(db, rids.prefix)
    assert [x["subject_id"] for x in b] == [r2]
    assert datetime.datetime.fromisoformat(b[0]["deadline"]) == _notified_at(db, r2) + DAY
    assert r1


# ---------------------------------------------------------------------------------------
# alert delivery
# ---------------------------------------------------------------------------------------

def test_webhook_down_retried_with_backoff_then_delivered_once(db, publisher, pipeline, rids,
                                                               services, webhook):
    topic = AlertTopic()
    hook = webhook()  # its port, nothing listening yet: connection refused
    r = _remittance_due(db, publisher, pipeline, rids, notice_age=4 * DAY)[0]
    s = services.sweeper(SWEEP_LIMIT=1000, SWEEP_INTERVAL_MS=100, OPS_WEBHOOK_URL=hook.url)
    seen = {}  # attempts -> monotonic time first seen

    def row():
        return db.one("SELECT attempts, published_at IS NOT NULL, sent_at IS NOT NULL, "
                      "last_error FROM alerts WHERE subject_id = %s", (r,))

    def watch(pred):
        def f():
            x = row()
            if x and x[0] not in seen:
                seen[x[0]] = time.monotonic()
            return x if x and pred(x) else None
        return f

    x = wait_until(watch(lambda x: x[0] >= 2), 30, "two failed webhook attempts",
                   interval=0.05, running=[s])
    assert x[1] is True, "ops.alerts took the alert though the webhook is down"
    assert x[2] is False and "webhook" in (x[3] or ""), x
    # up, but answering 503 to the first POST of this alert: one more failed attempt
    hook.start(fail=[f"{r}:1"])
    x = wait_until(watch(lambda x: x[2]), 60, "the alert delivered once the webhook is up",
                   interval=0.05, running=[s])
    assert x[0] == 4 and x[3] is None, f"attempts, published, sent, last_error: {x}"
    gaps = [seen[k + 1] - seen[k] for k in (1, 2, 3)]
    # backoff after the 1st, 2nd, 3rd failure: 1 s, 2 s, 4 s (plus up to a cycle)
    for g, want in zip(gaps, (1, 2, 4)):
        assert want - 0.3 <= g <= want + 1.5, f"retry gaps {gaps}, want ~1, 2, 4 s"
    recs = hook.records(subject=r)
    assert [q["status"] for q in recs] == [503, 200], recs
    _wait_cycles([s], 10)
    assert hook.delivered(r) == {r: 1}, "delivered exactly once to the webhook"
    got = topic.read([r], want=lambda res: False, timeout=3)
    assert len(got.get(r, [])) == 1, f"ops.alerts: {got}"


# ---------------------------------------------------------------------------------------
# T1
# ---------------------------------------------------------------------------------------

def test_t1_paid_order_not_shipped_by_its_day(db, publisher, pipeline, rids, services):
    topic = AlertTopic()
    today = shop_date(utcnow())
    buyer = rids.buyer()
    cases = {}  # name -> (order, expected ship_by, breach expected)

    def order(name, paid_at, ship_by, breach, then=()):
        o = rids.order()
        evs = [rids.created(o, buyer, items(("A", 1)), at=paid_at - datetime.timedelta(hours=1))]
        if ship_by:
            evs.append(rids.paid(o, at=paid_at))
        for i, (etype, data) in enumerate(then):
            evs.append(rids.order_event(etype, o, at=paid_at + datetime.timedelta(hours=i + 1),
                                        **data))
        cases[name] = (o, ship_by, breach, evs)

    order("paid 3 days ago before noon", shop_time(today - 3 * DAY, 10), today - 3 * DAY, True)
    order("paid 2 days ago after noon", shop_time(today - 2 * DAY, 13), today - DAY, True)
    order("paid yesterday 11:59", shop_time(today - DAY, 11, 59), today - DAY, True)
    order("paid yesterday 12:00", shop_time(today - DAY, 12), today, False)
    order("paid yesterday afternoon", shop_time(today - DAY, 13), today, False)
    order("printed, not shipped", shop_time(today - 3 * DAY, 9), today - 3 * DAY, True,
          [("order.printed", {"waybill_no": "SF1", "staff": "小美"})])
    order("shipped", shop_time(today - 3 * DAY, 9), today - 3 * DAY, False,
          [("order.printed", {"waybill_no": "SF2", "staff": "小美"}),
           ("order.shipped", {"carrier": "順豐", "waybill_no": "SF2"})])
    order("closed", shop_time(today - 3 * DAY, 9), today - 3 * DAY, False,
          [("order.closed", {"reason": "買家不要"})])
    order("never paid", shop_time(today - 3 * DAY, 9), None, False)
    evs = [e for c in cases.values() for e in c[3]]
    assert_applied(send(db, publisher, pipeline, *evs), *evs)
    for name, (o, ship_by, _, _) in cases.items():
        got = order_row(db, o)["ship_by"]
        assert got == (ship_by.isoformat() if ship_by else None), f"{name}: ship_by {got}"

    want = {c[0]: c[1] for c in cases.values() if c[2]}
    s = services.sweeper(SWEEP_LIMIT=1000)
    wait_until(lambda: _delivered(db, want) == set(want), 30, "the T1 alerts", running=[s])
    _wait_cycles([s], 5)
    breaches = breach_rows(db, rids.prefix)
    assert _count(b["subject_id"] for b in breaches) == {o: 1 for o in want}, \
        {n: c[0] for n, c in cases.items()}
    for b in breaches:
        deadline = shop_time(want[b["subject_id"]] + DAY, 0)  # the end of the ship-by day
        assert b["rule"] == "T1" and datetime.datetime.fromisoformat(b["deadline"]) == deadline
    assert _count(a["subject_id"] for a in alert_rows(db, rids.prefix)) == {o: 1 for o in want}
    got = topic.read(want, want=lambda res: False, timeout=3)
    assert {k: len(v) for k, v in got.items()} == {o: 1 for o in want}
    for o in want:
        p = got[o][0]
        assert p["rule"] == "T1" and p["kind"] == "breach" and p["subject_id"] == o
        assert want[o].isoformat() in p["reason"], p


# ---------------------------------------------------------------------------------------
# crash: SIGKILL in the middle, then a restart
# ---------------------------------------------------------------------------------------

def _in_flight(db, subjects):
    """Alerts claimed by a sweeper but not recorded as delivered on both channels."""
    return {s for (s,) in db.all(
        "SELECT subject_id FROM alerts WHERE subject_id = ANY(%s) AND attempts > 0 AND "
        "(sent_at IS NULL OR published_at IS NULL)", (list(subjects),))}


def _hook_repeats(hook, subjects):
    """Subjects POSTed more than once to the webhook in a way a receiver cannot recognise:
    a repeat is fine when every POST of the subject carries the same alert id."""
    out = set()
    for r in subjects:
        recs = hook.records(subject=r)
        keys = {q["body"].get("alert_id") for q in recs}
        if len(recs) > 1 and (None in keys or len(keys) > 1):
            out.add(r)
    return out


DUP_REASON = (
    "alerts.c records published_at/sent_at only after the whole batch was flushed to "
    "ops.alerts AND every webhook POST returned, and the payload carries no alert id: a "
    "sweeper killed in between re-sends the claimed alerts after the 30 s claim, so ops.alerts "
    "(and the webhook, with nothing to tell the repeat by) get them twice")


def test_sweeper_killed_mid_way_and_restarted(db, publisher, pipeline, rids, services,
                                              webhook):
    topic = AlertTopic()
    hook = webhook().start()
    late = _remittance_due(db, publisher, pipeline, rids, notice_age=4 * DAY, n=120)
    env = dict(SWEEP_LIMIT=10, OPS_WEBHOOK_URL=hook.url)
    s = services.sweeper(**env)
    wait_until(lambda: len(_delivered(db, late)) >= 25, 60, "some alerts delivered",
               interval=0.02, running=[s])
    s.kill()
    done = _delivered(db, late)
    in_flight = _in_flight(db, late)
    recorded = len(breach_rows(db, rids.prefix))
    assert len(done) < len(late), "killed too late: everything was already delivered"
    s2 = services.sweeper(**env)
    # alerts claimed by the killed sweeper wait out their 30 s claim
    wait_until(lambda: _delivered(db, late) == set(late), 90,
               "every alert delivered after the restart", running=[s2])
    _wait_cycles([s2], 5)
    assert _count(b["subject_id"] for b in breach_rows(db, rids.prefix)) == \
        {r: 1 for r in late}, "breaches recorded once each"
    assert _count(a["subject_id"] for a in alert_rows(db, rids.prefix)) == \
        {r: 1 for r in late}, "alerts queued once each"
    got = topic.read(late, want=lambda res: False, timeout=4)
    per_topic = {k: len(v) for k, v in got.items()}
    per_hook = hook.delivered(rids.prefix)
    lost = [r for r in late if not per_topic.get(r) or not per_hook.get(r)]
    assert not lost, f"{len(lost)} alert(s) lost, e.g. {lost[:3]}"
    hook_dup = _hook_repeats(hook, late)
    dup = sorted({r for r in late if per_topic[r] > 1} | hook_dup)
    print(f"killed after {recorded} breaches, {len(done)} delivered, {len(in_flight)} in "
          f"flight; duplicated after the restart: {len(dup)}")
    assert set(dup) <= in_flight, f"duplicates of alerts that were not in flight: {dup}"
    if dup:
        t = sum(1 for r in dup if per_topic[r] > 1)
        h = len(hook_dup)
        pytest.xfail(f"{len(dup)} in-flight alert(s) delivered twice ({t} on ops.alerts, {h} "
                     f"on the webhook): {DUP_REASON}")


def test_sweeper_killed_during_a_webhook_post(db, publisher, pipeline, rids, services,
                                              webhook):
    """Deterministic version: the receiver holds the POST of one alert, the sweeper is
    killed while waiting for the answer, a new one is started."""
    topic = AlertTopic()
    r = _remittance_due(db, publisher, pipeline, rids, notice_age=4 * DAY)[0]
    hook = webhook().start(hang=[f"{r}:20"])
    env = dict(SWEEP_LIMIT=1000, OPS_WEBHOOK_URL=hook.url)
    s = services.sweeper(**env)
    wait_until(lambda: hook.records(subject=r), 30, "the webhook POST", running=[s])
    s.kill()
    s2 = services.sweeper(**env)
    wait_until(lambda: _delivered(db, [r]) == {r}, 90, "the alert delivered after the restart",
               running=[s2])
    _wait_cycles([s2], 3)
    got = topic.read([r], want=lambda res: False, timeout=3)
    assert got.get(r), "lost on ops.alerts"
    assert hook.delivered(r), "lost on the webhook"
    assert len(alert_rows(db, rids.prefix)) == 1 and len(breach_rows(db, rids.prefix)) == 1
    if len(got[r]) > 1 or _hook_repeats(hook, [r]):
        posts = len(hook.records(subject=r))
        pytest.xfail(f"ops.alerts {len(got[r])} message(s), webhook {posts} POST(s): "
                     f"{DUP_REASON}")


def test_m3_alert_row_reason_is_the_payload_reason(db, publisher, pipeline, rids, services):
    r = _remittance_due(db, publisher, pipeline, rids, notice_age=4 * DAY)[0]
    s = services.sweeper(SWEEP_LIMIT=1000)
    wait_until(lambda: _delivered(db, [r]) == {r}, 30, "the M3 alert", running=[s])
    reason, payload_reason = db.one("SELECT reason, payload->>'reason' FROM alerts_v "
                                    "WHERE subject_id = %s", (r,))
    assert "  " not in payload_reason
    assert reason == payload_reason, f"alerts_v.reason {reason!r}"


# ---------------------------------------------------------------------------------------
# R5: readiness at the shift start, checked by the sweeper too
# ---------------------------------------------------------------------------------------

def test_r5_processor_not_online_at_the_shift_start(db, rids, services):
    """R5 through the sweeper (two of them, many cycles): an expected processor that was
    not online at SHIFT_START gets exactly one breach and one alert; one that was online
    (its online period began before the shift start and it heartbeats) gets none."""
    now = utcnow().astimezone(SHOP_TZ)
    if now.hour == 0 and now.minute < 3:
        time.sleep(200)  # a shift start two minutes ago must fall on today
        now = utcnow().astimezone(SHOP_TZ)
    shift = (now - datetime.timedelta(minutes=2)).strftime("%H:%M")
    ready, missing = rids.staff("早班"), rids.staff("遲到")
    db.all("INSERT INTO processors (name, kind, expected, online_since, last_heartbeat_at) "
           "VALUES (%s, 'staff', true, now() - interval '10 minutes', now()), "
           "(%s, 'staff', true, NULL, NULL)", (ready, missing))
    sweepers = [services.sweeper(SHIFT_START=shift), services.sweeper(SHIFT_START=shift)]
    subject = f"{now.date().isoformat()}/{missing}"
    wait_until(lambda: db.scalar("SELECT count(*) FROM alerts WHERE rule = 'R5' AND "
                                 "subject_id = %s", (subject,)) == 1, 30,
               "the R5 alert", running=sweepers)
    _wait_cycles(sweepers, 5)
    rows = db.all("SELECT subject_id, actor, deadline FROM breaches WHERE rule = 'R5' AND "
                  "actor = ANY(%s)", ([ready, missing],))
    assert [(r[0], r[1]) for r in rows] == [(subject, missing)], rows
    assert rows[0][2] == shop_time(now.date(), int(shift[:2]), int(shift[3:]))
    assert db.scalar("SELECT count(*) FROM alerts WHERE rule = 'R5' AND kind = 'readiness' "
                     "AND subject_id = %s", (subject,)) == 1

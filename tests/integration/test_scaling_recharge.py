"""Scaling (issue 7 item 5, second half), with processes standing in for pods: recharge-worker
replicas in one consumer group over the 6-partition shop.recharges, their desks sharing the
lease queue in PostgreSQL, the test provider a separate process (tests/provider, modest
latency, counting top-ups per order), while 3,000 recharge.requested events flow in at a
steady rate, published by orderflow-publish. The order-worker version is test_scaling.py.

Two workers start; as the events are ingested a third joins (scale up), one is stopped with
SIGTERM (scale down: it commits its batch, finishes or releases its leases and exits 0) and
one is killed with kill -9 while it holds leases (a crash: its uncommitted batch is rolled
back and redone by whoever gets its partitions; its leases lapse and are re-taken). At the
end:

  G1  every event ingested exactly once: applied_events holds exactly this run's (source,
      id)s and recharges one row per event; no dead letters;
  R1  the killed worker's leases were re-taken by the others once expired (never before),
      each lapse recorded as an R1 breach against it, and no other lease lapsed (the
      SIGTERM'd worker gave its leases back: G5);
  R7  every order reached its final state (succeeded or failed, by its account) with one
      attempt, POSTed once; the provider topped up each succeeded order exactly once and
      no other order at all; the re-taken attempts were reconciled by a status query;
  R6  the daily records count each lease taken (one per order, plus one per lapsed lease
      re-taken or lease given back) and each outcome once;
  R3  no result was handled late;
  lag 0: the offsets the group stored in PostgreSQL and the ones it committed to Kafka
      (for KEDA) equal each partition's high watermark, and the survivor's
      orderflow_consumer_lag gauge reads 0.
"""
import json
import os
import re
import signal
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "provider"))

from conftest import KAFKA_BOOTSTRAP, assert_no_dead_letters  # noqa: E402
from harness import (TOPIC_RECHARGES, end_offsets, provider, requested,  # noqa: E402,F401
                     rworkers, wait_for)
from test_scaling import publish as publish_file  # noqa: E402

ORDERS = 3_000             # one recharge.requested event each
RATE = 40                  # events/s offered: about 75 s of flow
LEASE_S = 10               # LOCK_WINDOW_S of the workers (R1's 10 s)
RETAKE_SLACK_S = 0.5       # R1: an expired lease is back in the queue within 10 s + 0.5 s
FINAL = {"ok": "succeeded", "slow": "succeeded", "no": "failed"}


# ---------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------

def kind_of(i):
    """The account kind of the i-th order: 1 in 10 fails at the provider, 3 in 10 are slow."""
    return "no" if i % 10 == 0 else "slow" if i % 10 <= 3 else "ok"


def generate(path, ids, accounts):
    """Writes the stream (one recharge.requested per order, JSON Lines); returns
    {order_id: (event id, account kind)}."""
    expected = {}
    with open(path, "w", encoding="utf-8") as f:
        for i in range(ORDERS):
            o = ids.order()
            k = kind_of(i)
            ev = requested(ids, o, accounts[k])
            expected[o] = (ev["id"], k)
            f.write(json.dumps(ev, ensure_ascii=False, separators=(",", ":")) + "\n")
    return expected


def ingested(db, source):
    return db.scalar("SELECT count(*) FROM applied_events WHERE source = %s", (source,))


def stored_offsets(db, group):
    return dict(db.all("SELECT partition, next_offset FROM consumer_offsets "
                       "WHERE group_id = %s AND topic = %s", (group, TOPIC_RECHARGES)))


def kafka_committed(group, partitions):
    """{partition: offset} the group committed to Kafka for shop.recharges (KEDA's lag)."""
    import confluent_kafka
    c = confluent_kafka.Consumer({"bootstrap.servers": KAFKA_BOOTSTRAP, "group.id": group,
                                  "enable.auto.commit": False})
    try:
        tps = c.committed([confluent_kafka.TopicPartition(TOPIC_RECHARGES, p)
                           for p in partitions], timeout=10)
        return {tp.partition: tp.offset for tp in tps}
    finally:
        c.close()


def lag_gauge(worker):
    """{partition: value} of a worker's orderflow_consumer_lag gauge for shop.recharges."""
    return {int(p): float(v) for p, v in re.findall(
        r'^orderflow_consumer_lag\{topic="shop\.recharges",partition="(\d+)"\} (\S+)$',
        worker.metrics_text(), re.M)}


def wait(pred, timeout, what, running=(), interval=0.2):
    """harness.wait_for, failing at once when one of the `running` workers has exited."""
    def check():
        for w in running:
            assert w.alive(), (f"{w.name} exited with {w.proc.returncode} while waiting for "
                               f"{what}; log {w.log_path}:\n{w.log_tail()}")
        return pred()
    return wait_for(check, timeout, what, interval)


def held_by(db, processor, orders):
    """{order_id: (token, lock_expires_at)} of the leases `processor` holds among orders."""
    return {o: (t, e) for o, t, e in db.all(
        "SELECT order_id, lock_token, lock_expires_at FROM recharges WHERE order_id = ANY(%s) "
        "AND state = 'locked' AND locked_by = %s", (orders, processor))}


# ---------------------------------------------------------------------------------------
# the test
# ---------------------------------------------------------------------------------------

@pytest.mark.last
def test_recharge_replicas_join_leave_and_crash_while_events_flow(request, db, ids, provider,
                                                                  rworkers, tmp_path):
    t_start = time.monotonic()
    accounts = {k: f"{ids.prefix}-{k}" for k in FINAL}
    provider.configure(accounts={
        accounts["ok"]: {"latency_ms": 150, "outcome": "success"},
        accounts["slow"]: {"latency_ms": 600, "outcome": "success"},
        accounts["no"]: {"latency_ms": 300, "outcome": "failed"}})
    stream = tmp_path / "recharges.jsonl"
    expected = generate(stream, ids, accounts)
    orders = list(expected)
    starts = end_offsets(TOPIC_RECHARGES)
    assert len(starts) == 6, f"{TOPIC_RECHARGES} has {len(starts)} partitions, the test wants 6"

    names = [f"{ids.prefix}-w{n}" for n in (1, 2, 3)]
    w = [rworkers.new(n, LOCK_WINDOW_S=LEASE_S).start() for n in names[:2]]
    for x in w:
        x.wait_ready()
    running = list(w)

    pub_log = open(tmp_path / "publish.log", "wb")
    pub = publish_file(str(stream), rate=RATE, log=pub_log)
    request.addfinalizer(lambda: pub.poll() is None and pub.kill())
    marks = []

    def at(fraction, what):
        goal = int(ORDERS * fraction)
        wait(lambda: ingested(db, ids.source) >= goal, 300,
             f"{goal} events ingested before {what}", running)
        n = ingested(db, ids.source)
        assert n < ORDERS, f"all events were ingested before {what}: raise ORDERS or lower RATE"
        marks.append((what, n, round(time.monotonic() - t_start, 1)))

    # scale up: a third replica joins the group and the desks' queue
    at(0.25, "the third worker joins")
    w.append(rworkers.start(names[2], LOCK_WINDOW_S=LEASE_S))
    running.append(w[2])

    # scale down: SIGTERM → batch committed, calls in flight committed, leases released, exit 0
    at(0.50, "SIGTERM to worker 1")
    applied = {w[0].processor: w[0].metric("orderflow_events_applied_total")}
    running.remove(w[0])
    rc = w[0].stop(timeout=60)
    assert rc == 0, f"worker 1 exited with {rc} after SIGTERM (G5; log {w[0].log_path})"
    assert "last batch committed" in w[0].log_text(), "G5: worker 1 did not commit its last batch"

    # a crash while it holds leases: kill -9 of worker 2 (or 3, should 2 hold none just then);
    # PostgreSQL rolls its open transactions back, its leases lapse
    at(0.75, "kill -9")
    victim, survivor = wait(lambda: next(([v, s] for v, s in ((w[1], w[2]), (w[2], w[1]))
                                          if held_by(db, v.processor, orders)), None),
                            30, "worker 2 or 3 holding leases", running)
    applied[victim.processor] = victim.metric("orderflow_events_applied_total")
    running.remove(victim)
    victim.kill()
    assert victim.proc.returncode == -signal.SIGKILL
    lapsed = held_by(db, victim.processor, orders)  # its leases, frozen from now on
    marks.append((f"{victim.processor[-2:]} killed holding leases", len(lapsed),
                  round(time.monotonic() - t_start, 1)))
    assert lapsed, "the killed worker held no lease: the test proves nothing about R1"

    assert pub.wait(timeout=300) == 0, \
        f"orderflow-publish failed: {(tmp_path / 'publish.log').read_text()}"
    pub_log.close()
    published_s = round(time.monotonic() - t_start, 1)

    # every order final; then the lag back to 0, in PostgreSQL and in Kafka
    def not_final():
        return db.scalar("SELECT count(*) FROM recharges WHERE order_id = ANY(%s) AND "
                         "state NOT IN ('succeeded', 'failed')", (orders,))
    wait(lambda: ingested(db, ids.source) == ORDERS and not_final() == 0, 120,
         f"{ORDERS} orders ingested and final", running, interval=0.5)
    final_s = round(time.monotonic() - t_start, 1)
    ends = end_offsets(TOPIC_RECHARGES)
    wait(lambda: stored_offsets(db, rworkers.group) == ends, 60,
         f"the group's offsets in PostgreSQL to reach the high watermarks {ends}", running)
    wait(lambda: kafka_committed(rworkers.group, ends) == ends, 30,
         "the offsets committed to Kafka (KEDA's lag) to reach the high watermarks", running,
         interval=1)
    wait(lambda: lag_gauge(survivor) == {p: 0.0 for p in ends}, 30,
         "the survivor's orderflow_consumer_lag to read 0 on every partition", running,
         interval=1)
    assert sum(ends[p] - starts[p] for p in ends) >= ORDERS

    lag0_s = round(time.monotonic() - t_start, 1)
    # the survivor stops cleanly too
    applied[survivor.processor] = survivor.metric("orderflow_events_applied_total")
    assert survivor.stop(timeout=60) == 0, "the surviving worker exited non-zero on SIGTERM (G5)"
    released_by_1 = w[0].log_text().count("released to the queue")

    # G1: each event ingested exactly once, none lost, none dead-lettered
    ids_applied = [r[0] for r in db.all("SELECT id FROM applied_events WHERE source = %s",
                                        (ids.source,))]
    want = {ev for ev, _ in expected.values()}
    missing, extra = want - set(ids_applied), set(ids_applied) - want
    assert len(ids_applied) == len(set(ids_applied)), "G1: an event was recorded twice"
    assert not missing, f"G1: {len(missing)} event(s) lost, e.g. {sorted(missing)[:5]}"
    assert not extra, f"G1: {len(extra)} unexpected event(s) applied, e.g. {sorted(extra)[:5]}"
    rows = {o: (state, attempts, attempt_id, locked_by, handled_by, locked_at) for
            o, state, attempts, attempt_id, locked_by, handled_by, locked_at in db.all(
                "SELECT order_id, state, attempts, attempt_id, locked_by, handled_by, "
                "locked_at FROM recharges WHERE order_id LIKE %s", (ids.prefix + "-%",))}
    assert set(rows) == set(orders), (f"G1: {len(set(orders) - set(rows))} order(s) not "
                                      f"queued, {len(set(rows) - set(orders))} extra")
    assert_no_dead_letters(db, ids)

    # R7: each order final by its account, one attempt, no lease left behind
    wrong = [(o, rows[o][0]) for o, (_, k) in expected.items() if rows[o][0] != FINAL[k]]
    assert not wrong, f"{len(wrong)} order(s) in the wrong final state, e.g. {wrong[:5]}"
    again = [(o, r[1], r[2]) for o, r in rows.items() if r[1] != 1 or r[2] != f"{o}-1"]
    assert not again, f"R7: an order got another attempt id than its first: {again[:5]}"
    assert not [o for o, r in rows.items() if r[3] is not None], "a lease was left held"

    # R7 at the provider: topped up once per succeeded order, never for a failed one
    stats = provider.stats(ids.prefix + "-o")
    topups, posts, queries = stats["topups"], stats["posts"], stats["status_queries"]
    twice = {o: n for o, n in topups.items() if n > 1}
    assert not twice, f"R7: order(s) topped up more than once at the provider: {twice}"
    succeeded = {o for o, r in rows.items() if r[0] == "succeeded"}
    not_once = [o for o in succeeded if topups.get(o) != 1]
    assert not not_once, (f"R7: {len(not_once)} succeeded order(s) not topped up exactly once "
                          f"at the provider, e.g. {[(o, topups.get(o)) for o in not_once[:5]]}")
    assert set(topups) <= succeeded, \
        f"R7: topped up but not succeeded: {sorted(set(topups) - succeeded)[:5]}"
    assert stats["orders"] == ORDERS, \
        f"{ORDERS - stats['orders']} order(s) never reached the provider"
    reposted = {o: n for o, n in posts.items() if n != 1}
    assert not reposted and len(posts) == ORDERS, \
        f"R7: an attempt was POSTed other than once: {list(reposted.items())[:5]}"
    unreconciled = [o for o in lapsed if not queries.get(o)]
    assert not unreconciled, (f"R7: re-taken attempts not reconciled with a status query "
                              f"before any retry: {unreconciled[:5]}")

    # R1: the killed worker's leases re-taken by the survivors once expired, and only those
    # lapsed (a breach each, against it); the SIGTERM'd worker gave its leases back
    delays = []
    for o, (token, expires) in lapsed.items():
        by, locked_at = rows[o][4], rows[o][5]
        assert by == survivor.processor, f"R1: {o}, lapsed by the killed worker, handled by {by}"
        delays.append((locked_at - expires).total_seconds())
    assert min(delays) >= 0, f"R1: a lease re-taken before it expired: {sorted(delays)[:3]}"
    assert max(delays) <= RETAKE_SLACK_S, (f"R1: a lapsed lease re-taken more than "
                                           f"{RETAKE_SLACK_S} s after expiry: "
                                           f"{sorted(delays)[-3:]}")
    breaches = db.all("SELECT subject_id, actor FROM breaches_v WHERE rule = 'R1' AND "
                      "subject_id LIKE %s", (ids.prefix + "-%",))
    assert {a for _, a in breaches} <= {victim.processor}, \
        (f"R1: leases of live or stopped workers lapsed: "
         f"{[b for b in breaches if b[1] != victim.processor][:5]}")
    want_breaches = {f"{o}/{t}" for o, (t, _) in lapsed.items()}
    assert {s for s, _ in breaches} == want_breaches, \
        (f"R1: breaches {sorted(s for s, _ in breaches)[:5]} do not match the killed worker's "
         f"lapsed leases {sorted(want_breaches)[:5]}")
    late = db.all("SELECT subject_id, detail FROM breaches_v WHERE rule = 'R3' AND "
                  "subject_id = ANY(%s)", (orders,))
    assert not late, f"R3: results handled more than 10 s after they arrived: {late[:3]}"

    # every replica ingested events (its partitions) and took leases; R1/R6: the leases taken
    # (R6's daily record, counted in the lock's own transaction) are one per order, plus one
    # per lapsed lease re-taken and per lease the SIGTERM'd worker gave back
    daily = {p: (n, ok, no) for p, n, ok, no in db.all(
        "SELECT processor, sum(locked)::bigint, sum(succeeded)::bigint, sum(failed)::bigint "
        "FROM recharge_daily_v WHERE processor = ANY(%s) GROUP BY 1", (names,))}
    locked = {p: d[0] for p, d in daily.items()}
    per = {x.processor: (int(applied[x.processor] or 0), locked.get(x.processor, 0)) for x in w}
    assert all(a and n for a, n in per.values()), \
        f"a replica ingested nothing or took no lease (ingested, leases): {per}"
    assert sum(locked.values()) == ORDERS + len(lapsed) + released_by_1, \
        (f"R1: {sum(locked.values())} leases taken for {ORDERS} orders, {len(lapsed)} lapsed "
         f"and {released_by_1} released: an order was locked once too often")
    counted = (sum(d[1] for d in daily.values()), sum(d[2] for d in daily.values()))
    assert counted == (len(succeeded), ORDERS - len(succeeded)), \
        f"R6: the daily records count {counted} (succeeded, failed) outcomes"

    print(f"\nrecharge scaling: {ORDERS} events at {RATE}/s; {marks}; published by "
          f"{published_s} s, all final by {final_s} s, lag 0 by {lag0_s} s; (ingested, "
          f"leases taken) per worker: {[per[n] for n in names]}; {released_by_1} released on "
          f"SIGTERM; {len(lapsed)} lapsed lease(s) re-taken {min(delays):.3f}-"
          f"{max(delays):.3f} s after expiry; {len(succeeded)} succeeded, "
          f"{ORDERS - len(succeeded)} failed")

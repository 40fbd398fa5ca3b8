"""G5 no loss: with PostgreSQL stopped for 20 s while events flow, the worker reports itself
not ready, retries with backoff, stays alive, and once PostgreSQL is back catches up with
every event applied once. SIGTERM in the middle of a flow finishes the batch, commits and
exits 0, with the stored offsets matching the effects, and a restart goes on from there."""
import datetime
import re
import time

from conftest import (KAFKA_BOOTSTRAP, TOPIC_ORDERS, Background, Publisher, applied_count,
                      assert_lifecycle_complete, assert_offsets_consistent, wait_until)

OUTAGE_S = 20


def _ts(line):
    return datetime.datetime.strptime(line["ts"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def test_postgres_outage_nothing_lost(db, workers, ids, pg_server):
    worker = workers.start()
    orders = []

    def publish(stop):
        pub = Publisher(KAFKA_BOOTSTRAP)
        while not stop.is_set():  # one order's whole lifecycle every 50 ms
            o = ids.order()
            orders.append(o)
            for ev in ids.lifecycle(o):
                pub.structured(ev)
            pub.p.poll(0)
            time.sleep(0.05)
        return pub.flush()

    flow = Background(publish)
    flow.start()
    try:
        wait_until(lambda: applied_count(db, ids.source) >= 100, 60, "the flow to be applied",
                   running=[worker])
        pg_server.stop()
        down_at = time.time()
        down = time.monotonic()
        status, body = wait_until(lambda: (r := worker.get("/readyz"))[0] == 503 and r, 15,
                                  "/readyz to say 503 with PostgreSQL down", running=[worker])
        assert "PostgreSQL" in body, f"/readyz should name the cause: {body}"
        not_ready_after = time.monotonic() - down
        db_up = []
        while time.monotonic() - down < OUTAGE_S:
            worker.check_running("during the PostgreSQL outage")
            assert worker.get("/readyz")[0] == 503, "ready while PostgreSQL is down"
            assert worker.get("/healthz")[0] == 200, "/healthz failed: the worker is alive"
            db_up.append(worker.metric("orderflow_db_up"))
            time.sleep(1)
        # 0 once the lanes have noticed (each lane's failed batch or ping), to the end
        assert db_up[-5:] == [0] * 5, f"orderflow_db_up during the outage: {db_up}"
        assert flow.is_alive(), "the publisher stopped during the outage"
    finally:
        if not pg_server.running():
            pg_server.start()
    up_at = time.time()
    wait_until(lambda: worker.get("/readyz")[0] == 200, 60,
               "/readyz 200 again after PostgreSQL is back", running=[worker])
    resumed = applied_count(db, ids.source)
    wait_until(lambda: applied_count(db, ids.source) > resumed + 50, 60,
               "events published after the outage to be applied", running=[worker])
    sent = flow.finish()
    wait_until(lambda: applied_count(db, ids.source) >= len(sent), 120,
               f"all {len(sent)} events applied", interval=0.2, running=[worker])
    assert_lifecycle_complete(db, ids, sent, orders)

    # retried, with backoff: a few attempts, spaced out more and more (not a busy loop)
    retries = [_ts(line) for line in worker.log_lines()
               if line.get("level") in ("warn", "error") and down_at <= _ts(line) <= up_at]
    assert len(retries) >= 3, f"only {len(retries)} retry log line(s) during the outage"
    assert len(retries) <= 4 * OUTAGE_S, f"{len(retries)} log lines in {OUTAGE_S} s: no backoff?"
    gaps = [b - a for a, b in zip(retries, retries[1:])]
    assert max(gaps) >= 1.5, f"retries never backed off: gaps {gaps}"
    assert worker.metric("orderflow_batch_retries_total") > 0
    assert worker.metric("orderflow_db_up") == 1
    assert worker.stop() == 0
    print(f"\nnot ready {not_ready_after:.1f} s after the stop; {len(retries)} warnings in "
          f"{OUTAGE_S} s, gaps up to {max(gaps):.1f} s; {len(sent)} events, all applied once")


def test_sigterm_mid_flow_commits_and_resumes(db, publisher, workers, ids):
    orders = [ids.order() for _ in range(8000)]
    group = workers.new_group()
    sent = []
    for o in orders:
        sent += [publisher.structured(ev) for ev in ids.lifecycle(o)]
    publisher.flush()
    total = len(sent)

    first = workers.start(group=group)
    wait_until(lambda: applied_count(db, ids.source) >= total // 10, 120,
               "10 % of the events applied", interval=0.02, running=[first])
    t = time.monotonic()
    rc = first.stop(timeout=60)
    took = time.monotonic() - t
    assert rc == 0, f"exit code {rc} on SIGTERM"
    assert "last batch committed" in first.log_text()
    at_stop = assert_offsets_consistent(db, first.group, sent)
    assert 0 < at_stop < total, f"SIGTERM came too late to test a stop mid-flow: {at_stop}"

    stored = dict(db.all("SELECT partition, next_offset FROM consumer_offsets "
                         "WHERE group_id = %s AND topic = %s", (first.group, TOPIC_ORDERS)))

    # the same group again: resumes exactly from the stored offsets (so nothing committed
    # before the stop is consumed again) and completes the flow
    second = workers.start(group=first.group)
    wait_until(lambda: applied_count(db, ids.source) >= total, 120, "all events applied",
               interval=0.2, running=[second])
    # each partition's first assignment (the group may then move it from lane to lane
    # within the process, from a later offset: the lane before it applied some)
    resumed = {}
    for p, o in re.findall(r"assigned shop\.orders\[(\d+)\] from offset (-?\d+)",
                           second.run_text()):
        resumed.setdefault(int(p), int(o))
    assert resumed == {p: stored.get(p, -2) for p in resumed} and len(resumed) == 6, \
        f"the restarted worker did not resume from the stored offsets {stored}: {resumed}"
    assert_offsets_consistent(db, first.group, sent)
    assert_lifecycle_complete(db, ids, sent, orders)
    assert second.stop() == 0
    print(f"\nSIGTERM at {at_stop}/{total} applied: exit 0 in {took:.2f} s")


def test_sigterm_during_first_join_waits_for_the_group(workers):
    """SIGTERM while the worker's lanes are still joining the group: each lane serves the
    group until it has had its first assignment, then they leave and the worker exits 0.
    (librdkafka 2.0 can crash closing a cooperative-sticky consumer before its first
    assignment: a worker stopped there died of a segfault, about 1 stop in 300.)"""
    w = workers.new(CONSUMER_LANES=2).start()
    wait_until(lambda: "lane 1 consuming" in w.run_text(), 30, "both lanes subscribed",
               interval=0.005, running=[w])
    joined_before = w.run_text().count("joined the group")
    rc = w.stop(timeout=60)
    text = w.run_text()
    assert rc == 0, f"exit code {rc} on SIGTERM during the first join"
    stopping = text.index("stopping: last batch committed")
    for lane in (0, 1):
        assert f"lane {lane}: joined the group" in text[:stopping], \
            f"lane {lane} left before the group gave it its first assignment:\n{text}"
    assert "before it gave the lane an assignment" not in text
    print(f"\nSIGTERM with {joined_before} of 2 lanes joined: both joined, then exit 0")

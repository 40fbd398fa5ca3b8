"""G1 exactly-once effect: 100,000 events (20,000 orders x created, paid, printed, shipped,
closed); the worker is killed with SIGKILL three times, each time after at least a further
20 % of the events were applied, and restarted in the same consumer group. After each crash
the offsets stored in PostgreSQL match the effects exactly; at the end every published
event is in applied_events once, at the partition and offset it was published at, each
order's events in publication order, every order shipped and closed at version 5, and no
dead letters. Runs last: it is the long one, and the topic it leaves behind is big."""
import random
import re
import signal
import time

import psycopg
import pytest

from conftest import (DATABASE_URL, applied_count, assert_lifecycle_complete,
                      assert_offsets_consistent, interleave, wait_until)

ORDERS = 20_000
KILLS = 3
STEP = 0.20  # each kill after at least a further 20 % of progress


@pytest.mark.last
def test_exactly_once_across_three_kill_9(db, publisher, workers, ids):
    rng = random.Random(ids.run)
    orders = [ids.order() for _ in range(ORDERS)]
    group = workers.new_group()
    t = time.monotonic()
    sent = []
    for k in range(0, ORDERS, 500):  # orders interleaved 500 at a time
        chunk = interleave([ids.lifecycle(o) for o in orders[k:k + 500]], rng)
        sent += [publisher.structured(ev) for ev in chunk]
    publisher.flush()
    total = len(sent)
    assert total == 5 * ORDERS
    publish_s = time.monotonic() - t

    progress = lambda: applied_count(db, ids.source)
    marks = []
    t = time.monotonic()
    for n in range(KILLS):
        w = workers.start(group=group)
        goal = (marks[-1] if marks else 0) + int(STEP * total)
        wait_until(lambda: progress() >= goal, 300, f"{goal} events applied before kill {n + 1}",
                   interval=0.02, running=[w])
        w.kill()
        wait_until(lambda: _sessions(db) == 0, 30, f"the sessions of the worker killed ({n + 1})")
        done = progress()
        assert done < total, (f"the worker finished before kill {n + 1}: it cannot be "
                              f"killed mid-flow (raise ORDERS)")
        # what was committed: effects and stored offsets agree, nothing half-applied
        assert assert_offsets_consistent(db, group, sent) == done
        marks.append(done)

    last = workers.start(group=group)
    wait_until(lambda: progress() >= total, 300, f"all {total} events applied", interval=0.5,
               running=[last])
    drain_s = time.monotonic() - t
    assert last.stop() == 0
    assert assert_offsets_consistent(db, group, sent) == total
    assert_lifecycle_complete(db, ids, sent, orders)
    assert [b - a for a, b in zip([0] + marks, marks)] >= [int(STEP * total)] * KILLS
    print(f"\npublished {total} events in {publish_s:.1f} s; killed (-9) at "
          f"{', '.join(f'{m}' for m in marks)} applied; all applied once in {drain_s:.1f} s "
          f"(3 restarts included)")


def _sessions(db):
    """The order-worker's PostgreSQL sessions. After a kill -9 a backend still finishes a
    COMMIT it had received (and only then notices its client is gone): the effects are
    final once the killed worker's sessions have ended."""
    return db.scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                     "'order-worker' AND datname = current_database()")


def _lock_waiters(db):
    return db.scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                     "'order-worker' AND wait_event_type = 'Lock' AND datname = current_database()")


def test_stalled_worker_losing_its_partitions_applies_nothing_twice(db, publisher, workers,
                                                                     ids):
    """A worker that stalls in the middle of a transaction (a long GC-like pause: SIGSTOP)
    loses its partitions to another member of the group, which reads the offsets stored in
    PostgreSQL and takes the same events. When the stalled one wakes up it still commits
    its batch: the other must then see those events as applied (duplicates), never apply
    or refuse them a second time. Made deterministic with a row lock the test holds, so
    both workers are inside their transactions on the same order at once."""
    group = workers.new_group()  # at the end: B's first batch is this order's events
    x = ids.order()
    ev = ids.lifecycle(x)
    a = workers.start(group=group)
    # A's two lanes settle first (the second lane's partitions come from the first in a
    # cooperative rebalance): a process stalled while one of its lanes is still joining
    # keeps the group waiting for that join far beyond the session timeout
    wait_until(lambda: len(set(re.findall(r"lane (\d+): assigned", a.run_text()))) >= 2, 60,
               "both lanes of worker A to have partitions", running=[a])
    publisher.structured(ev[0])
    publisher.flush()
    wait_until(lambda: db.scalar("SELECT state FROM orders WHERE order_id = %s", (x,)), 60,
               f"{x} created", running=[a])
    holder = psycopg.connect(DATABASE_URL)  # a transaction holding the order's row lock
    try:
        holder.execute("SELECT 1 FROM orders WHERE order_id = %s FOR UPDATE", (x,))
        publisher.structured(ev[1])  # paid
        publisher.structured(ev[4])  # closed
        publisher.flush()
        wait_until(lambda: _lock_waiters(db) >= 1, 60, "worker A to wait for the row lock",
                   running=[a])
        a.proc.send_signal(signal.SIGSTOP)  # A stalls inside its transaction
        b = workers.start(group=group)
        wait_until(lambda: _lock_waiters(db) >= 2, 90,
                   "worker B to take A's partitions and wait for the same row lock",
                   running=[b])
        holder.commit()  # A's (stalled) session gets the lock first, B waits on
    finally:
        holder.close()
        if a.alive():
            a.proc.send_signal(signal.SIGCONT)  # A wakes up, applies, commits
    wait_until(lambda: db.scalar("SELECT closed FROM orders WHERE order_id = %s", (x,)), 60,
               f"{x} paid and closed", running=[b])
    # B's transaction on the order's events ends once A's commit releases the lock
    wait_until(lambda: (b.metric("orderflow_batches_total") or 0) >= 1, 60,
               "worker B to commit its first batch (the order's events)", running=[b])
    assert db.one("SELECT state, closed, version FROM orders WHERE order_id = %s", (x,)) == \
        ("paid", True, 3)
    applied = [r[0] for r in db.all("SELECT type FROM applied_events WHERE source = %s "
                                    "ORDER BY seq", (ids.source,))]
    assert applied == ["order.created", "order.paid", "order.closed"]
    dl = db.all("SELECT event_type, reason FROM dead_letters WHERE event_source = %s",
                (ids.source,))
    assert not dl, ("events applied by the stalled worker were applied or refused again by "
                    f"the worker that took its partitions: dead letters {dl}")
    a.kill()
    assert b.stop() == 0

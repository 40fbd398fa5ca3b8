"""G3 order: the events of one order are applied in the order they were published, with
many orders' events interleaved on the topic, and while consumers join, leave and crash
(partitions move between workers of one group)."""
import random
import time

from conftest import (KAFKA_BOOTSTRAP, Background, Publisher, applied_count,
                      assert_applied_in_order, assert_lifecycle_complete,
                      assert_no_dead_letters, interleave, wait_until)


def variants(ids, n):
    """n orders whose lifecycles end in different states; each final state holds only
    if the order's events were applied in publication order (closed before paid, say,
    would refuse the payment). Returns (per-order event lists, expected final rows)."""
    per_order, expect = [], {}
    for k in range(n):
        o = ids.order()
        full = ids.lifecycle(o)
        kind = k % 4
        if kind == 0:  # the whole lifecycle
            evs = full
            expect[o] = ("shipped", True, 5, full[3]["data"]["waybill_no"])
        elif kind == 1:  # cancelled before payment
            evs = [full[0], full[4]]
            expect[o] = ("unpaid", True, 2, None)
        elif kind == 2:  # printed twice: the second waybill replaces the first
            reprint = ids.event("order.printed", o, event_id=f"{o}-printed-2",
                                data={"waybill_no": f"RE{k:08d}"})
            evs = full[:3] + [reprint]
            expect[o] = ("printed", False, 4, f"RE{k:08d}")
        else:  # paid, then closed unshipped
            evs = full[:2] + [full[4]]
            expect[o] = ("paid", True, 3, None)
        per_order.append(evs)
    return per_order, expect


def assert_final_states(db, expect):
    got = {r[0]: r[1:] for r in db.all(
        "SELECT v.order_id, v.state, v.closed, o.version, v.waybill_no FROM orders_v v "
        "JOIN orders o USING (order_id) WHERE v.order_id = ANY(%s)", (list(expect),))}
    wrong = {o: (got.get(o), e) for o, e in expect.items() if got.get(o) != e}
    assert not wrong, (f"{len(wrong)} order(s) with a wrong final state (got, expected), "
                       f"e.g. {list(wrong.items())[:3]}")


def test_interleaved_orders_applied_in_publication_order(db, publisher, workers, ids):
    rng = random.Random(ids.run)
    per_order, expect = variants(ids, 600)
    events = interleave(per_order, rng)
    worker = workers.start()
    sent = [publisher.structured(ev) for ev in events]
    publisher.flush()
    assert len({s.partition for s in sent}) > 1, "the orders should spread over partitions"
    wait_until(lambda: applied_count(db, ids.source) >= len(sent), 120,
               f"{len(sent)} events applied", interval=0.2, running=[worker])
    assert_applied_in_order(db, ids, sent)
    assert_final_states(db, expect)
    assert_no_dead_letters(db, ids)
    assert worker.stop() == 0


def test_order_kept_while_partitions_move(db, workers, ids):
    """Three workers of one group: B joins while A works, A leaves (SIGTERM), B is killed
    (kill -9) and C takes over. Events are published all along."""
    rng = random.Random(ids.run)
    n_orders = 800
    orders = [ids.order() for _ in range(n_orders)]
    events = interleave([ids.lifecycle(o) for o in orders], rng)
    total = len(events)

    def publish(stop):
        pub = Publisher(KAFKA_BOOTSTRAP)
        t0 = time.monotonic()
        rate = 250.0  # events/s: the flow lasts ~16 s, through every move
        for k, ev in enumerate(events):
            pub.structured(ev)
            ahead = k / rate - (time.monotonic() - t0)
            if ahead > 0:
                time.sleep(ahead)
        return pub.flush()

    group = workers.new_group()
    a = workers.start(group=group)
    flow = Background(publish)
    flow.start()
    progress = lambda: applied_count(db, ids.source)

    wait_until(lambda: progress() >= total * 0.15, 60, "15 % applied", running=[a])
    b = workers.start(group=group)
    wait_until(lambda: progress() >= total * 0.35, 60, "35 % applied", running=[a, b])
    assert a.stop() == 0, "worker A did not exit 0 on SIGTERM"
    wait_until(lambda: progress() >= total * 0.55, 60, "55 % applied (B alone)", running=[b])
    b.kill()
    c = workers.start(group=group)
    sent = flow.finish()
    wait_until(lambda: progress() >= total, 120, f"all {total} events applied", interval=0.2,
               running=[c])
    assert_lifecycle_complete(db, ids, sent, orders)
    assert c.stop() == 0
    log = a.log_text() + b.log_text()
    assert "revoked" in log, "no partition moved between the workers"

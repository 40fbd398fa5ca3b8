"""G2 idempotency: an event re-sent with the same (source, id) has no second effect, whether
the copy arrives in the same batch, after the first was committed, in the other CloudEvents
mode, with changed content, or is read again by a new consumer group. The same id from
another source is another event."""
from conftest import TOPIC_ORDERS, assert_no_dead_letters, end_offsets, wait_until


def order_row(db, order_id):
    return db.one("SELECT state, version, paid_amount::text, pay_method, waybill_no "
                  "FROM orders WHERE order_id = %s", (order_id,))


def applied_rows(db, source):
    return db.all("SELECT id, type, subject FROM applied_events WHERE source = %s ORDER BY seq",
                  (source,))


def wait_offsets_past(db, group, sent, timeout=120, running=()):
    """Waits until the group's stored offsets are past every message of sent."""
    need = {}
    for s in sent:
        need[s.partition] = max(need.get(s.partition, 0), s.offset + 1)

    def done():
        have = dict(db.all("SELECT partition, next_offset FROM consumer_offsets "
                           "WHERE group_id = %s AND topic = %s", (group, TOPIC_ORDERS)))
        return all(have.get(p, 0) >= o for p, o in need.items())
    wait_until(done, timeout, f"group {group} to consume past offsets {need}",
               running=running)


def test_resent_event_has_one_effect(db, publisher, workers, ids):
    worker = workers.start()
    a = ids.order()
    created = ids.event("order.created", a)
    paid = ids.event("order.paid", a, data={"amount": created["data"]["total"]})
    sent = []
    # the same event twice in a row (one batch), structured mode both times
    sent += [publisher.structured(created), publisher.structured(created)]
    # the same event once structured, once binary
    sent += [publisher.structured(paid), publisher.binary(paid)]
    sent += publisher.flush()
    wait_until(lambda: (order_row(db, a) or ("",))[0] == "paid", 60, f"{a} to be paid",
               running=[worker])

    # re-sent after the first copies were committed, one of them with other content (the
    # first copy stands), then a new event as a marker
    changed = dict(paid, data=dict(paid["data"], amount="1.00", method="bank"))
    printed = ids.event("order.printed", a)
    sent += [publisher.binary(created), publisher.structured(changed),
             publisher.structured(printed)]
    sent += publisher.flush()
    wait_until(lambda: order_row(db, a)[0] == "printed", 60, f"{a} to be printed",
               running=[worker])

    # the same event id from another shop is another event
    b = ids.order()
    other = ids.event("order.created", b, event_id=created["id"])
    other["source"] = ids.source + "-b"
    other["data"]["shop_id"] = ids.shop + "-b"
    sent.append(publisher.structured(other))
    sent += publisher.flush()
    wait_until(lambda: order_row(db, b), 60, f"{b} to be created", running=[worker])

    assert applied_rows(db, ids.source) == [(created["id"], "order.created", a),
                                            (paid["id"], "order.paid", a),
                                            (printed["id"], "order.printed", a)]
    assert applied_rows(db, other["source"]) == [(created["id"], "order.created", b)]
    state, version, amount, method, waybill = order_row(db, a)
    assert (state, version) == ("printed", 3), "a re-sent event changed the order again"
    assert (amount, method) == (paid["data"]["amount"], paid["data"]["method"]), \
        "a re-sent event with other content replaced the first one's effect"
    assert waybill == printed["data"]["waybill_no"]
    assert order_row(db, b)[:2] == ("unpaid", 1)
    assert_no_dead_letters(db, ids)  # a duplicate is skipped, not dead-lettered
    assert worker.metric("orderflow_events_duplicate_total") >= 4
    # the copies sent after the first ones were committed: refused by the key of
    # applied_events, and their batch applied again with a look-up of earlier events, which
    # the next batches keep (both copies share a partition: one refusal, whichever batches
    # they came in)
    assert worker.run_text().count("an event of the batch was applied before (sent again)") == 1
    assert worker.stop() == 0

    # A brand-new consumer group reads the whole topic again, every other test's events
    # too: all of this test's copies are duplicates now.
    before = db.all("SELECT source, id, seq FROM applied_events WHERE source IN (%s, %s) "
                    "ORDER BY seq", (ids.source, other["source"]))
    again = workers.start(from_beginning=True)
    backlog = sum(end_offsets(TOPIC_ORDERS).values())
    wait_offsets_past(db, again.group, sent, timeout=120 + backlog / 5000, running=[again])
    assert again.stop() == 0
    assert db.all("SELECT source, id, seq FROM applied_events WHERE source IN (%s, %s) "
                  "ORDER BY seq", (ids.source, other["source"])) == before
    assert order_row(db, a)[:2] == ("printed", 3)
    assert order_row(db, b)[:2] == ("unpaid", 1)
    assert_no_dead_letters(db, ids)


def test_rejected_event_is_not_remembered_as_applied(db, publisher, workers, ids):
    """G2 keeps what was applied, not what was refused: order.printed before order.paid is
    rejected (dead-lettered, nothing applied, not in applied_events, though order-worker
    records a batch's events while its rules run), and the very same event re-sent once the
    order is paid is applied."""
    worker = workers.start()
    a = ids.order()
    created = ids.event("order.created", a)
    printed = ids.event("order.printed", a)
    paid = ids.event("order.paid", a, data={"amount": created["data"]["total"]})
    # in one batch: the created order is applied, the printed one refused
    publisher.structured(created)
    publisher.structured(printed)
    publisher.flush()
    wait_until(lambda: db.scalar("SELECT count(*) FROM dead_letters WHERE event_source = %s "
                                 "AND event_id = %s", (ids.source, printed["id"])) == 1,
               60, "order.printed before payment to be dead-lettered", running=[worker])
    assert applied_rows(db, ids.source) == [(created["id"], "order.created", a)]
    assert order_row(db, a)[:2] == ("unpaid", 1)

    publisher.structured(paid)
    publisher.structured(printed)  # the same (source, id) as the refused one
    publisher.flush()
    wait_until(lambda: order_row(db, a)[0] == "printed", 60, f"{a} to be printed",
               running=[worker])
    assert applied_rows(db, ids.source) == [(created["id"], "order.created", a),
                                            (paid["id"], "order.paid", a),
                                            (printed["id"], "order.printed", a)]
    assert order_row(db, a)[:2] == ("printed", 3)
    assert worker.stop() == 0

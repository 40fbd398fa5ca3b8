"""G4 bad input: a message that is not a valid, applicable event is never applied; it goes
to the dead_letters table and to shop.deadletter with a reason naming the field or the
problem, and the worker keeps consuming. A SQL-injection-looking string in a valid event
is stored verbatim and harms nothing."""
import json

from conftest import (TOPIC_DEADLETTER, TOPIC_ORDERS, end_offsets, read_topic, wait_until)

CE_JSON = [("content-type", b"application/cloudevents+json; charset=UTF-8")]
INJECTION = "x'); DROP TABLE orders;--"


def test_bad_input_dead_lettered_worker_keeps_consuming(db, publisher, workers, ids):
    # Everything goes to one partition, so the valid events published last are applied
    # only once every bad message before them has been dealt with.
    part = 0
    dl_start = end_offsets(TOPIC_DEADLETTER)
    worker = workers.start()

    known = ids.order()  # created here, so rule-breaking events have an order to break
    pub = lambda ev, **kw: publisher.structured(ev, partition=part, **kw)
    ok = [pub(ids.event("order.created", known))]

    cases = {}  # name -> (Sent, [substrings the reason must contain])

    def case(name, sent, *needles):
        cases[name] = (sent, needles)

    o = ids.order()
    case("non-JSON",
         publisher.raw(b"order paid: 129.00 {", key=o.encode(), headers=CE_JSON, partition=part),
         "not valid JSON")
    case("empty value", publisher.raw(b"", key=o.encode(), headers=CE_JSON, partition=part),
         "empty")
    case("no value (tombstone)",
         publisher.raw(None, key=o.encode(), headers=CE_JSON, partition=part), "empty")
    case("JSON array", publisher.raw(b"[1, 2, 3]", key=o.encode(), headers=CE_JSON,
                                     partition=part),
         "JSON object")
    case("JSON, not CloudEvents",
         publisher.raw(json.dumps({"order_id": o, "amount": "129.00"}).encode(),
                       key=o.encode(), headers=CE_JSON, partition=part),
         "CloudEvents", "specversion")
    ev = ids.event("order.paid", known)
    ev["specversion"] = "0.3"
    case("wrong specversion", pub(ev), "specversion")
    ev = ids.event("order.paid", known)
    ev["type"] = "order.teleported"
    case("unknown type", pub(ev), "unknown event type", "order.teleported")
    ev = ids.event("order.paid", known)
    del ev["data"]["amount"]
    case("missing data field", pub(ev), "missing required field 'amount'")
    ev = ids.event("order.paid", known)
    del ev["id"]
    case("missing envelope field", pub(ev), "CloudEvents", "missing required field 'id'")
    ev = ids.event("order.paid", known)
    ev["data"]["amount"] = 129
    case("wrong type (number for money)", pub(ev), "data.amount", "must be a string")
    ev = ids.event("order.created", ids.order())
    ev["data"]["auction"] = "no"
    case("wrong type (string for boolean)", pub(ev), "data.auction", "boolean")
    ev = ids.event("order.paid", known)
    ev["data"]["method"] = "cash"
    case("value not allowed", pub(ev), "data.method", "cash")
    ev = ids.event("order.paid", known)
    ev["time"] = "2024-02-30T10:00:00Z"
    case("impossible time", pub(ev), "time", "2024-02-30")
    ev = ids.event("order.created", ids.order())
    ev["padding"] = "x" * 300_000  # an extension attribute: ~300 KB, over the 256 KiB default
    case("over MAX_EVENT_BYTES", pub(ev), "262144", "MAX_EVENT_BYTES")
    ev = ids.event("order.created", ids.order(), data={"buyer_id": "BUYER_MARK"})
    bad_utf8 = json.dumps(ev, ensure_ascii=False).encode().replace(b"BUYER_MARK",
                                                                   b"buyer\xff\xfe")
    case("invalid UTF-8", publisher.raw(bad_utf8, key=ev["subject"].encode(), headers=CE_JSON,
                                        partition=part),
         "UTF-8", "0xff")
    case("event for an unknown order", pub(ids.event("order.paid", ids.order())),
         "unknown order")
    case("rule broken: printed before paid", pub(ids.event("order.printed", known)),
         "not paid")
    case("rule broken: created twice",
         pub(ids.event("order.created", known, event_id=f"{known}-created-again")),
         "already exists")
    ev = ids.event("order.paid", known)
    case("binary mode without ce_id", publisher.binary(ev, partition=part, drop=("id",)),
         "missing required field 'id'")
    ev = ids.event("order.paid", known)
    case("binary mode without ce_type", publisher.binary(ev, partition=part, drop=("type",)),
         "missing required field 'type'")
    ev = ids.event("order.paid", known)
    case("binary mode, data not JSON",
         publisher.raw(b"amount=129.00", key=known.encode(),
                       headers=[(f"ce_{k}", str(v).encode()) for k, v in ev.items()
                                if k != "data"] + [("content-type", b"application/json")],
                       partition=part),
         "data", "not valid JSON")
    ev = ids.event("order.created", ids.order())
    ev["type"] = "recharge.requested"
    ev["data"] = {"order_id": ev["subject"], "shop_id": ids.shop, "account": "13800138000",
                  "product": "mobile-50", "face_value": "50.00", "amount": "49.50"}
    case("type of another topic", pub(ev), "shop.recharges")
    ev = ids.event("order.created", ids.order())
    case("key is not the subject", pub(ev, key=ev["subject"] + "-other"), "message key")
    ev = ids.event("order.created", ids.order())
    case("no key", pub(ev, key=None), "message key")
    ev = ids.event("order.paid", known)
    ev["subject"] = ids.order()
    case("subject is not data.order_id", pub(ev), "subject", "order_id")
    ev = ids.event("order.created", INJECTION)
    case("SQL-injection-looking order id", pub(ev), "data.order_id", INJECTION)

    # Valid events after all of that: the worker must still apply them.
    inj = ids.order()
    ok.append(pub(ids.event("order.created", inj, data={"buyer_id": INJECTION})))
    ok.append(pub(ids.event("order.closed", inj, data={"reason": INJECTION + " '; --"})))
    big = ids.order()  # just under the limit: accepted
    ev = ids.event("order.created", big)
    ev["padding"] = "x" * 250_000
    ok.append(pub(ev))
    last = ids.order()
    ok.append(pub(ids.event("order.created", last)))
    ok.append(publisher.binary(ids.event("order.paid", last), partition=part))
    publisher.flush()
    assert len(ok[-3].value) < 262144
    assert len({s.partition for s in ok} | {c[0].partition for c in cases.values()}) == 1

    wait_until(lambda: db.scalar("SELECT state FROM orders WHERE order_id = %s", (last,)) ==
               "paid", 60, f"the valid order {last} published after the bad input to be paid",
               running=[worker])
    assert worker.alive(), "the worker stopped on bad input"
    assert worker.get("/healthz")[0] == 200

    # Every bad message: one dead_letters row with an actionable reason; nothing applied.
    rows = {(p, o): (reason, bytes(payload), etype)
            for p, o, reason, payload, etype in db.all(
                'SELECT partition, "offset", reason, payload, event_type FROM dead_letters '
                'WHERE topic = %s AND partition = %s AND "offset" = ANY(%s)',
                (TOPIC_ORDERS, part, [c[0].offset for c in cases.values()]))}
    problems = []
    for name, (sent, needles) in cases.items():
        row = rows.get((sent.partition, sent.offset))
        if row is None:
            problems.append(f"{name}: no dead_letters row at offset {sent.offset}")
            continue
        reason, payload, _ = row
        missing = [n for n in needles if n.lower() not in reason.lower()]
        if missing:
            problems.append(f"{name}: reason {reason!r} does not name {missing}")
        if payload != (sent.value or b""):
            problems.append(f"{name}: payload not kept verbatim")
    assert not problems, "\n".join(problems)
    v = db.one("SELECT reason, payload FROM dead_letters_v WHERE topic = %s AND partition = %s "
               "AND \"offset\" = %s", (TOPIC_ORDERS, part, cases["invalid UTF-8"][0].offset))
    assert "\\xff" in v[1], "dead_letters_v.payload should show invalid bytes as \\xNN"

    applied = {i for (i,) in db.all("SELECT id FROM applied_events WHERE source = %s",
                                    (ids.source,))}
    assert applied == {s.event["id"] for s in ok}
    assert db.one("SELECT state, version FROM orders WHERE order_id = %s", (known,)) == \
        ("unpaid", 1)
    assert db.scalar("SELECT count(*) FROM orders WHERE order_id LIKE %s",
                     (ids.prefix + "%",)) == 4  # known, inj, big, last
    assert db.scalar("SELECT count(*) FROM orders WHERE order_id = %s", (INJECTION,)) == 0

    # The SQL-injection-looking strings are data, stored verbatim.
    assert db.one("SELECT buyer_id, close_reason, closed FROM orders_v WHERE order_id = %s",
                  (inj,)) == (INJECTION, INJECTION + " '; --", True)
    assert db.scalar("SELECT to_regclass('public.orders') IS NOT NULL")

    # shop.deadletter: each bad message, unchanged, with of_reason (= the table's reason)
    # and where it came from.
    want = {(TOPIC_ORDERS, c[0].partition, c[0].offset): name for name, c in cases.items()}

    def found(msgs):
        got = {}
        for m in msgs:
            h = {k: (v.decode() if v is not None else None) for k, v in (m.headers() or [])}
            k = (h.get("of_topic"), int(h.get("of_partition", -1)), int(h.get("of_offset", -1)))
            if k in want:
                got[k] = (h, m.value() or b"", m.key())
        return got if len(got) == len(want) else None

    msgs = read_topic(TOPIC_DEADLETTER, dl_start, found, timeout=30)
    got = found(msgs) or {}
    missing = [want[k] for k in want if k not in got]
    assert not missing, f"not on {TOPIC_DEADLETTER}: {missing}"
    for k, name in want.items():
        h, value, _ = got[k]
        sent = cases[name][0]
        assert h.get("of_reason") == rows[(sent.partition, sent.offset)][0], name
        assert value == (sent.value or b""), f"{name}: dead letter value differs from the message"

    # one log line per dead-lettered message, naming where it was
    log = worker.log_text()
    unlogged = [name for name, (s, _) in cases.items()
                if f"{TOPIC_ORDERS}[{s.partition}]@{s.offset}" not in log]
    assert not unlogged, f"no log line for: {unlogged}"
    assert (worker.metric("orderflow_events_invalid_total") or 0) + \
        (worker.metric("orderflow_events_rejected_total") or 0) >= len(cases)
    assert worker.stop() == 0

"""The rule table of tests/rules/ (SPEC A1-A21, F1-F4, T1-T2, the lifecycle; the rows
tests/unit/test_rules.c applies in memory) through the real pipeline: every row's events
are published to shop.orders (structured CloudEvents, key = subject), applied by
orderflow-order-worker, and what the rules left is read back from PostgreSQL's views
(order_notes_v, tasks_v, orders_v, balance_ledger_v, refund_registrations_v,
dead_letters_v) and compared with the row's expectations.

Two phases: first every row's setup events (an exchange's new order lives on another
partition, so it must exist before the exchange is published), then every row's event
under test. A rejected event must leave nothing behind: the row's state read after the
second phase equals the one read after the first, to the last column.
"""
import time

import pytest

import rules_lib as rl

ROWS = rl.load_rows()


class Pipeline:
    def __init__(self):
        self.run = rl.run_id()
        self.like = f"rp{self.run}-"
        self.source = f"shop/rules-{self.run}"
        self.defaults = rl.load_defaults()
        self.setup_sent = {}  # row index -> [Sent]
        self.event_sent = {}  # row index -> Sent
        self.outcome = {}
        self.before = {}
        self.after = {}
        self.timings = {}

    def prefix(self, row):
        return f"{self.like}{row.index:03d}-"

    def events(self, row):
        p = self.prefix(row)
        setup = [rl.build_event(self.defaults, s, p, n, self.source)
                 for n, s in enumerate(row.row["setup"])]
        event = rl.build_event(self.defaults, row.row["event"], p, len(setup), self.source)
        return setup, event


@pytest.fixture(scope="module")
def pipeline():
    pl = Pipeline()
    db = rl.Db()
    pub = rl.Publisher()
    worker = rl.Worker("test_rules_pipeline").start()
    try:
        t0 = time.monotonic()
        built = {row.index: pl.events(row) for row in ROWS}
        # Orders are created first, all of them: an exchange's new order is keyed by its own
        # id, so on another partition it could otherwise arrive after the exchange naming it.
        sent = []
        for creating in (True, False):
            for row in ROWS:
                slots = pl.setup_sent.setdefault(row.index, [None] * len(built[row.index][0]))
                for n, ev in enumerate(built[row.index][0]):
                    if (ev["type"] == "order.created") == creating:
                        slots[n] = pub.publish(ev)
            phase = pub.flush()
            rl.wait_consumed(db, worker.group, phase)
            sent += phase
        pl.timings["setup"] = time.monotonic() - t0
        pl.before = rl.read_state(db, pl.like)

        t1 = time.monotonic()
        for row in ROWS:
            pl.event_sent[row.index] = pub.publish(built[row.index][1])
        sent2 = pub.flush()
        rl.wait_consumed(db, worker.group, sent2)
        pl.timings["events"] = time.monotonic() - t1
        pl.outcome = rl.outcomes(db, sent + sent2)
        pl.after = rl.read_state(db, pl.like)
        pl.timings["events published"] = len(sent) + len(sent2)
        yield pl
    finally:
        rc = worker.stop()
        db.close()
        print(f"\nrule table through the pipeline: {len(ROWS)} rows, "
              f"{pl.timings.get('events published')} events; setup phase "
              f"{pl.timings.get('setup', 0):.2f} s, event phase {pl.timings.get('events', 0):.2f} s")
    assert rc == 0, f"order-worker exited {rc} after SIGTERM\n{worker.log_tail()}"


def _params():
    out = []
    for row in ROWS:
        marks = [pytest.mark.xfail(reason=row.xfail, strict=True)] if row.xfail else []
        out.append(pytest.param(row, id=f"{row.index:03d} {row.name}", marks=marks))
    return out


@pytest.mark.parametrize("row", _params())
def test_rule_row(pipeline, row):
    prefix = pipeline.prefix(row)
    fails = []
    for i, s in enumerate(pipeline.setup_sent[row.index]):
        why = pipeline.outcome[(s.partition, s.offset)]
        if why is not None:
            fails.append(f"setup event {i} ({s.event['type']}) not applied: {why}")
    ev = pipeline.event_sent[row.index]
    why = pipeline.outcome[(ev.partition, ev.offset)]
    expect = row.expect
    if expect["accepted"]:
        if why is not None:
            fails.append(f"rejected: {why}")
    else:
        if why is None:
            fails.append(f"accepted, want rejected ({expect.get('reason')!r})")
        elif rl.DEAD_YET_APPLIED in why:
            fails.append(why)
        elif expect.get("reason") and expect["reason"] not in why:
            fails.append(f"dead letter reason {why!r} does not contain {expect['reason']!r}")
        before = pipeline.before.get(prefix, rl.empty_state())
        after = pipeline.after.get(prefix, rl.empty_state())
        for part in ("notes", "tasks", "orders", "ledger", "refunds"):
            if before[part] != after[part]:
                fails.append(f"the rejected event left {part} changed: {after[part]!r}, "
                             f"was {before[part]!r}")
    fails += rl.check_expect(expect, pipeline.after.get(prefix, rl.empty_state()), prefix)
    assert not fails, f"{row.file}: {row.name}\n  " + "\n  ".join(fails)


def test_every_rule_has_a_row():
    """At least one row per rule of SPEC 4.2-4.3 and T1/T2 (the issue's 'at least one row
    per rule' through the pipeline: every row runs here)."""
    want = {f"A{i}" for i in range(1, 22)} | {"F1", "F2", "F3", "F4", "T1", "T2"}
    have = set()
    for row in ROWS:
        for word in row.name.split():
            if word in want:
                have.add(word)
            else:
                break
    assert want <= have, f"rules without a row: {sorted(want - have)}"
    assert len(ROWS) > 40

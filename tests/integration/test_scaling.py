"""Scaling (issue 7), with processes standing in for pods: order-worker replicas in one
consumer group over the 6-partition shop.orders while 200,000 events (40,000 orders x
created, paid, printed, shipped, closed) flow in at a steady rate, published by
orderflow-publish from tests/bench/gen_events.py's stream.

Three workers start; as the events are applied a fourth joins (scale up), one is stopped
with SIGTERM (scale down: it must commit its batch and exit 0) and one is killed with
kill -9 (a crash: its uncommitted batch is rolled back and redone by whoever gets its
partitions). At the end: every published event applied exactly once (applied_events holds
exactly this run's (source, id)s), each order's events in publication order, every order
shipped and closed at version 5, no dead letters, and the lag back to 0: the offsets the
group stored in PostgreSQL, and the ones it committed to Kafka for KEDA, equal each
partition's high watermark.

test_throughput_one_vs_two_workers (ORDERFLOW_SCALE_BENCH=1 to run it) measures, asserts
nothing: the same 200,000 events drained by 1 and then 2 workers, with the CPU time each
process of the pipeline used.
"""
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from conftest import BUILD_DIR, KAFKA_BOOTSTRAP, REPO, TOPIC_ORDERS, end_offsets, wait_until

ORDERS = 40_000
STEPS = 5
TOTAL = ORDERS * STEPS                 # 200,000 events
RATE = 8_000                           # events/s offered: about 25 s of flow
PUBLISH_BIN = os.path.join(BUILD_DIR, "services", "publish", "orderflow-publish")
GEN_EVENTS = os.path.join(REPO, "tests", "bench", "gen_events.py")


# ---------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------

def generate(path, prefix, shop, orders=ORDERS):
    """The benchmark's stream: `orders` orders x 5 events, ids {prefix}-{i}-{step},
    source shop/{shop}; returns the list of (order id, [event ids in publication order])."""
    with open(path, "wb") as f:
        subprocess.run([sys.executable, GEN_EVENTS, "--orders", str(orders), "--prefix", prefix,
                        "--shop", shop], stdout=f, check=True)
    return {f"{prefix}-{i}": [f"{prefix}-{i}-{s}" for s in range(STEPS)] for i in range(orders)}


def publish(path, rate=None, log=None):
    """Starts orderflow-publish on the file (in the background); returns the Popen."""
    assert os.access(PUBLISH_BIN, os.X_OK), f"{PUBLISH_BIN} is not built"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAFKA_")}
    env["KAFKA_BOOTSTRAP"] = KAFKA_BOOTSTRAP
    args = [PUBLISH_BIN] + (["--rate", str(rate)] if rate else []) + [path]
    return subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL,
                            stdout=log or subprocess.DEVNULL, stderr=log or subprocess.DEVNULL)


def start_group_at_end(db, group):
    """Stores the topic's current end offsets as the group's position, as a group that has
    been running all along would have: the workers then read only what is published from
    now on, not what earlier tests left on the shared topic."""
    ends = end_offsets(TOPIC_ORDERS)
    assert len(ends) == 6, f"{TOPIC_ORDERS} has {len(ends)} partitions, the test wants 6"
    for p, off in ends.items():
        db.all("INSERT INTO consumer_offsets (group_id, topic, partition, next_offset) "
               "VALUES (%s, %s, %s, %s)", (group, TOPIC_ORDERS, p, off))
    return ends


def stored_offsets(db, group):
    return dict(db.all("SELECT partition, next_offset FROM consumer_offsets "
                       "WHERE group_id = %s AND topic = %s", (group, TOPIC_ORDERS)))


def kafka_committed(group, partitions):
    """{partition: offset} the group committed to Kafka (what KEDA's lag is computed from)."""
    import confluent_kafka
    c = confluent_kafka.Consumer({"bootstrap.servers": KAFKA_BOOTSTRAP, "group.id": group,
                                  "enable.auto.commit": False})
    try:
        tps = c.committed([confluent_kafka.TopicPartition(TOPIC_ORDERS, p) for p in partitions],
                          timeout=10)
        return {tp.partition: tp.offset for tp in tps}
    finally:
        c.close()


def applied(db, source):
    return db.scalar("SELECT count(*) FROM applied_events WHERE source = %s", (source,))


def assert_all_applied_once_in_order(db, source, expected):
    rows = db.all("SELECT subject, id FROM applied_events WHERE source = %s ORDER BY seq",
                  (source,))
    ids = [r[1] for r in rows]
    want = {i for evs in expected.values() for i in evs}
    assert len(ids) == len(set(ids)), "an event was recorded twice"
    missing, extra = want - set(ids), set(ids) - want
    assert not missing, f"{len(missing)} event(s) lost, e.g. {sorted(missing)[:5]}"
    assert not extra, f"{len(extra)} unexpected event(s) applied, e.g. {sorted(extra)[:5]}"
    got = {}
    for subject, i in rows:
        got.setdefault(subject, []).append(i)
    wrong = [o for o, evs in expected.items() if got.get(o) != evs]
    assert not wrong, (f"{len(wrong)} order(s) applied out of publication order, e.g. "
                       f"{wrong[0]}: {got.get(wrong[0])}")


def assert_orders_closed_at_version_5(db, prefix, n):
    like = prefix.replace("_", r"\_") + "-%"
    bad = db.all("SELECT order_id, state, closed, version FROM orders WHERE order_id LIKE %s "
                 "AND NOT (state = 'shipped' AND closed AND version = 5) LIMIT 5", (like,))
    assert not bad, f"orders not shipped+closed at version 5 (an event lost or applied twice): {bad}"
    count = db.scalar("SELECT count(*) FROM orders WHERE order_id LIKE %s", (like,))
    assert count == n, f"{n - count} order(s) missing"


def assert_no_dead_letters(db, source):
    dl = db.all("SELECT partition, \"offset\", reason FROM dead_letters WHERE event_source = %s "
                "LIMIT 5", (source,))
    assert not dl, f"dead letters: {dl}"


# ---------------------------------------------------------------------------------------
# the test
# ---------------------------------------------------------------------------------------

@pytest.mark.last
def test_replicas_join_leave_and_crash_while_events_flow(request, db, workers, ids, tmp_path):
    t_start = time.monotonic()
    stream = tmp_path / "events.jsonl"
    expected = generate(stream, ids.prefix, ids.shop)
    group = f"it-scale-{ids.run}"
    start_group_at_end(db, group)

    # one lane each, as in deploy/k8s: replicas are the unit of scaling here (with two
    # lanes, four replicas would be eight consumers for six partitions)
    w = [workers.new(group=group, CONSUMER_LANES="1") for _ in range(3)]
    for x in w:
        x.start()
    for x in w:
        x.wait_ready()
    running = list(w)

    pub_log = open(tmp_path / "publish.log", "wb")
    pub = publish(str(stream), rate=RATE, log=pub_log)
    request.addfinalizer(lambda: pub.poll() is None and pub.kill())
    progress = lambda: applied(db, ids.source)  # noqa: E731
    events = []

    def at(fraction, what):
        goal = int(TOTAL * fraction)
        wait_until(lambda: progress() >= goal, 300, f"{goal} events applied before {what}",
                   interval=0.2, running=running)
        n = progress()
        assert n < TOTAL, f"all events were applied before {what}: raise ORDERS or lower RATE"
        events.append((what, n, round(time.monotonic() - t_start, 1)))

    # scale up: a fourth replica joins; the group rebalances (cooperative-sticky)
    at(0.20, "the fourth worker joins")
    w.append(workers.new(group=group, CONSUMER_LANES="1").start().wait_ready())
    running.append(w[3])

    # scale down: SIGTERM → the batch is committed, the group left, exit status 0
    at(0.40, "SIGTERM to worker 1")
    applied_by_1 = w[0].metric("orderflow_events_applied_total")
    running.remove(w[0])
    rc = w[0].stop(timeout=60)
    assert rc == 0, f"worker 1 exited with {rc} after SIGTERM (log {w[0].log_path})"
    assert "last batch committed" in w[0].log_text()

    # a crash: kill -9 → its open transaction is rolled back by PostgreSQL; after the
    # session timeout its partitions go to the others, from the offsets in PostgreSQL
    at(0.60, "kill -9 of worker 2")
    applied_by_2 = w[1].metric("orderflow_events_applied_total")
    running.remove(w[1])
    assert w[1].kill() == -signal.SIGKILL

    assert pub.wait(timeout=300) == 0, \
        f"orderflow-publish failed: {(tmp_path / 'publish.log').read_text()}"
    pub_log.close()
    published_s = round(time.monotonic() - t_start, 1)

    # lag back to 0: PostgreSQL's offsets and Kafka's committed offsets at the end
    ends = end_offsets(TOPIC_ORDERS)
    wait_until(lambda: stored_offsets(db, group) == ends, 180,
               f"the group's stored offsets to reach the end offsets {ends}",
               interval=0.5, running=running)
    drained_s = round(time.monotonic() - t_start, 1)
    # The same in Kafka, where KEDA reads the lag (committed there every second, and when idle).
    try:
        wait_until(lambda: kafka_committed(group, ends) == ends, 15,
                   "the offsets committed to Kafka to reach the end", interval=1)
        kafka_lag = 0
    except AssertionError:
        committed = kafka_committed(group, ends)
        kafka_lag = sum(ends[p] - max(0, committed.get(p, 0)) for p in ends)

    # every replica that ran did work; the survivors stop cleanly too
    late = {x.pid: x.metric("orderflow_events_applied_total") for x in (w[2], w[3])}
    for x in (w[2], w[3]):
        assert x.stop(timeout=60) == 0, f"worker {x.pid} exited non-zero on SIGTERM"
    assert applied_by_1 and applied_by_2 and all(late.values()), \
        f"a replica applied nothing: {applied_by_1}, {applied_by_2}, {late}"

    # exactly once, in order, complete
    assert applied(db, ids.source) == TOTAL
    assert_all_applied_once_in_order(db, ids.source, expected)
    assert_orders_closed_at_version_5(db, ids.prefix, ORDERS)
    assert_no_dead_letters(db, ids.source)
    print(f"\nscaling: {TOTAL} events at {RATE}/s; {events}; published by {published_s} s, "
          f"drained (lag 0) by {drained_s} s; applied per worker: 1={applied_by_1:.0f} "
          f"2={applied_by_2:.0f} others={late}; lag left in Kafka's committed offsets: "
          f"{kafka_lag}")
    # KEDA reads lag from Kafka: after rebalances the worker re-commits its positions when
    # idle, so Kafka's committed offsets reach the end too (issue 7)
    assert kafka_lag == 0, (f"Kafka's committed offsets of group {group} stay {kafka_lag} "
                            f"events behind PostgreSQL's (stale lag for KEDA)")


# ---------------------------------------------------------------------------------------
# measurement: 1 vs 2 workers (not part of the suite's verdict)
# ---------------------------------------------------------------------------------------

def _proc_cpu_s(pid):
    """User + system CPU seconds of a process (and its reaped children), or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    tick = os.sysconf("SC_CLK_TCK")
    return sum(int(x) for x in fields[11:15]) / tick  # utime stime cutime cstime


def _children(ppid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == ppid:
                        out.append(int(d))
            except (OSError, ValueError, IndexError):
                pass
    return out


def _machine_cpu():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v), v[3] + v[4]  # total, idle + iowait


def _pg_and_kafka_pids(db):
    datadir = db.scalar("SHOW data_directory")
    with open(os.path.join(datadir, "postmaster.pid")) as f:
        postmaster = int(f.readline())
    kafka = None
    stack = os.environ.get("STACK_DIR") or os.path.dirname(datadir)
    try:
        with open(os.path.join(stack, "kafka.pid")) as f:
            kafka = int(f.read().strip())
    except (OSError, ValueError):
        pass
    return postmaster, kafka


@pytest.mark.skipif(os.environ.get("ORDERFLOW_SCALE_BENCH") != "1",
                    reason="a measurement: ORDERFLOW_SCALE_BENCH=1 to run it")
def test_throughput_one_vs_two_workers(db, workers, ids, tmp_path):
    results = []
    postmaster, kafka = _pg_and_kafka_pids(db)
    nice = os.environ.get("ORDERFLOW_SCALE_NICE")
    if nice:
        # On a shared machine: give this pipeline (PostgreSQL and its future backends, the
        # workers this process starts) priority over whatever else runs. Needs root.
        for pid in [postmaster] + _children(postmaster):
            os.setpriority(os.PRIO_PROCESS, pid, int(nice))
        os.setpriority(os.PRIO_PROCESS, 0, int(nice))
    for n_workers in [int(x) for x in os.environ.get("ORDERFLOW_SCALE_RUNS", "1,2").split(",")]:
        tag = f"{ids.prefix}-n{n_workers}-{len(results)}"
        shop = f"{ids.shop}-{len(results)}"
        stream = tmp_path / f"{tag}.jsonl"
        generate(stream, tag, shop)
        group = f"bench-{ids.run}-{len(results)}"
        start_group_at_end(db, group)
        # everything published first: the workers then run flat out
        assert publish(str(stream)).wait(timeout=300) == 0
        ends = end_offsets(TOPIC_ORDERS)
        pg_before = {p: _proc_cpu_s(p) for p in _children(postmaster)}
        kafka_before = _proc_cpu_s(kafka) if kafka else None
        m0 = _machine_cpu()
        t0 = time.monotonic()
        ws = [workers.new(group=group, LOG_LEVEL="warn") for _ in range(n_workers)]
        for x in ws:
            x.start()
        wait_until(lambda: stored_offsets(db, group) == ends, 600, "the workers to drain",
                   interval=0.2, running=ws)
        wall = time.monotonic() - t0
        worker_cpu = sum(_proc_cpu_s(x.pid) or 0 for x in ws)
        pg_after = {p: _proc_cpu_s(p) for p in _children(postmaster)}
        kafka_cpu = (_proc_cpu_s(kafka) - kafka_before) if kafka_before is not None else 0
        m1 = _machine_cpu()
        rss = []
        for x in ws:
            with open(f"/proc/{x.pid}/status") as f:
                rss.append(int(re.search(r"VmHWM:\s+(\d+)", f.read()).group(1)) // 1024)
        for x in ws:
            assert x.stop() == 0
        pg_cpu = sum((v or 0) - (pg_before.get(p) or 0) for p, v in pg_after.items())
        span = db.one("SELECT count(*), extract(epoch FROM max(applied_at) - min(applied_at)) "
                      "FROM applied_events WHERE source = %s", (f"shop/{shop}",))
        assert span[0] == TOTAL
        busy = 1 - (m1[1] - m0[1]) / max(1, m1[0] - m0[0])
        busy_s = ((m1[0] - m0[0]) - (m1[1] - m0[1])) / os.sysconf("SC_CLK_TCK")
        results.append({
            "workers": n_workers, "events": TOTAL,
            "events_per_s": round(TOTAL / float(span[1]), 0),
            "wall_s_incl_start": round(wall, 1),
            "cpu_s_workers": round(worker_cpu, 1), "cpu_s_postgres": round(pg_cpu, 1),
            "cpu_s_kafka": round(kafka_cpu, 1),
            "cpu_s_everything_else": round(busy_s - worker_cpu - pg_cpu - kafka_cpu, 1),
            "machine_busy_pct": round(100 * busy, 0), "peak_rss_mib": rss,
        })
    print("\nthroughput:")
    for r in results:
        print("  ", r)

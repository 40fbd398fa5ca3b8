#!/usr/bin/env python3
"""recharge_bench.py — the direct recharge benchmark (issue 4), driven by
tests/bench/recharge_run (which starts the stack and sets DATABASE_URL and
KAFKA_BOOTSTRAP). Prints figures; asserts nothing. Phases:

 1. throughput: N recharge.requested events published first; then ONE recharge-worker
    drains them against the test provider answering in 50 ms (tests/provider/provider.py,
    a separate process): recharges/s from its first lock to its last committed outcome
    (and over the middle 80 %); provider top-ups checked (never two per order); peak RSS.
 2. lease cycle: lock + complete, measured with pgbench on the same PostgreSQL for the
    same clients and batch sizes: (a) a raw FOR UPDATE SKIP LOCKED lock-and-complete
    script on a copy of the recharges table, (b) the lease protocol recharge-worker uses
    (recharge_lock + recharge_finish: fencing, attempts, R1/R2/R3 checks, daily counts).
    The ratio is (b) / (a). The two alternate in slices (raw ours, ours raw, ...), so a
    shared machine's drifting load weighs on both alike.
 3. re-take: a worker holding K leases is killed (kill -9); another re-takes them: the time
    from each lease's last renewal to its re-take, min / median / max (R1: 10.0 - 10.5 s).
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "provider"))
import harness  # noqa: E402

import confluent_kafka  # noqa: E402

DB = os.environ["DATABASE_URL"]
KAFKA = os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092")
PGBENCH = os.environ.get("PGBENCH", "/usr/lib/postgresql/15/bin/pgbench")
TZ = "Asia/Shanghai"
OUT = os.environ.get("BENCH_DIR") or tempfile.mkdtemp(prefix="recharge-bench-")
os.makedirs(OUT, exist_ok=True)


def psql(sql):
    r = subprocess.run(["psql", DB, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"bench: psql failed: {r.stderr.strip()}\n  {sql[:300]}")
    return r.stdout.strip()


def log(msg):
    print(msg, flush=True)


def load():
    """The machine's load averages (1, 5, 15 min): figures from a shared machine vary."""
    return "load average %.2f, %.2f, %.2f" % os.getloadavg()


def publish_requests(run, n, account):
    p = confluent_kafka.Producer({"bootstrap.servers": KAFKA, "linger.ms": 20, "acks": "all",
                                  "enable.idempotence": True, "compression.type": "lz4",
                                  "queue.buffering.max.messages": 1000000})
    t = harness.rfc3339()
    for i in range(n):
        o = f"{run}-{i:07d}"
        ev = {"specversion": "1.0", "id": f"{o}-requested", "source": f"shop/{run}",
              "type": "recharge.requested", "time": t, "subject": o,
              "datacontenttype": "application/json",
              "data": {"order_id": o, "shop_id": run, "account": account,
                       "product": "mobile-50", "face_value": "50.00", "amount": "49.50"}}
        while True:
            try:
                p.produce(harness.TOPIC_RECHARGES, key=o, value=json.dumps(ev).encode(),
                          headers=[("content-type", b"application/cloudevents+json")])
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
    assert p.flush(120) == 0


class _Psql:
    """The db.all() harness.start_group_at_end needs, over psql."""

    @staticmethod
    def all(sql, params):
        q = sql.replace("%s", "{}").format(*(f"'{p}'" if isinstance(p, str) else str(p)
                                              for p in params))
        psql(q)


def rss_peak_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmHWM:\s+(\d+) kB", f.read()).group(1)) / 1024


def throughput(a, run, prov):
    acc = f"{run}-acc"
    prov.configure(accounts={acc: {"latency_ms": a.latency_ms, "outcome": "success"}})
    # the worker's group starts here, not at events of earlier runs on a kept stack
    harness.start_group_at_end(_Psql, f"bench-{run}")
    t = time.time()
    publish_requests(run, a.orders, acc)
    log(f"  published {a.orders:,} recharge.requested in {time.time() - t:.1f} s")
    w = harness.RechargeWorker(os.path.join(OUT, "worker.log"), f"{run}-W", f"bench-{run}",
                               prov.url, LOG_LEVEL="warn",
                               RECHARGE_CONCURRENCY=a.concurrency).start()
    try:
        deadline = time.time() + 900
        while True:
            done = int(psql(f"SELECT count(*) FROM recharges WHERE order_id LIKE '{run}-%' "
                            "AND state IN ('succeeded', 'failed', 'suspended')"))
            if done >= a.orders:
                break
            if not w.alive() or time.time() > deadline:
                raise SystemExit(f"bench: worker stopped or too slow ({done} done); "
                                 f"log {w.log_path}")
            time.sleep(0.5)
        peak = rss_peak_mib(w.pid)
        calls = w.metric("orderflow_recharge_provider_calls_total")
        per_lock = w.metric("orderflow_recharge_leases_taken_total") / max(
            1, w.metric("orderflow_recharge_lock_calls_total"))
        per_finish = w.metric("orderflow_recharge_outcomes_total") / max(
            1, w.metric("orderflow_recharge_finish_calls_total"))
    finally:
        w.stop()
    first, last, p10, p90, ok, n = psql(
        "SELECT extract(epoch FROM min(locked_at)), extract(epoch FROM max(handled_at)), "
        "extract(epoch FROM percentile_disc(0.1) WITHIN GROUP (ORDER BY handled_at)), "
        "extract(epoch FROM percentile_disc(0.9) WITHIN GROUP (ORDER BY handled_at)), "
        "count(*) FILTER (WHERE state = 'succeeded'), count(*) "
        f"FROM recharges WHERE order_id LIKE '{run}-%'").split("|")
    secs = float(last) - float(first)
    rate = int(n) / secs
    mid = 0.8 * int(n) / (float(p90) - float(p10))
    stats = prov.stats(run)
    log(f"  one recharge-worker, provider answering in {a.latency_ms} ms, "
        f"{a.concurrency} in flight at most:")
    log(f"    {int(n):,} orders ({int(ok):,} succeeded) in {secs:.2f} s = {rate:,.0f} "
        f"recharges/s (middle 80 %: {mid:,.0f}/s); {calls:,.0f} provider calls")
    log(f"    provider: {sum(stats['topups'].values()):,} top-ups, at most "
        f"{stats['max_topups']} per order")
    log(f"    desk batches: {per_lock:.1f} orders per lock statement, {per_finish:.1f} per "
        f"finish statement")
    log(f"    peak RSS {peak:.1f} MiB")
    return rate, peak, per_lock


# ---------------------------------------------------------------------------------------
# lease cycle: pgbench, raw SKIP LOCKED vs the lease protocol
# ---------------------------------------------------------------------------------------

RAW = """\\set b {batch}
WITH c AS (SELECT order_id FROM bench_lease_q
            WHERE state IN ('queued', 'locked')
              AND (state = 'queued' OR lock_expires_at < clock_timestamp())
            ORDER BY requested_at LIMIT :b FOR UPDATE SKIP LOCKED),
u AS (UPDATE bench_lease_q q SET state = 'locked', locked_by = 'raw' || :client_id,
             lock_token = nextval('bench_lease_tokens'),
             lock_expires_at = clock_timestamp() + interval '10 s'
        FROM c WHERE q.order_id = c.order_id
      RETURNING q.order_id, q.lock_token)
SELECT coalesce(json_agg(json_build_object('o', order_id, 't', lock_token)), '[]')::text AS outs
  FROM u \\gset
UPDATE bench_lease_q q SET state = 'succeeded', locked_by = NULL, lock_expires_at = NULL,
       handled_at = clock_timestamp()
  FROM json_to_recordset(:outs::json) AS l(o text, t bigint)
 WHERE q.order_id = l.o AND q.lock_token = l.t AND q.state = 'locked'
   AND q.lock_expires_at > clock_timestamp();
"""

OURS = """\\set b {batch}
SELECT coalesce(json_agg(json_build_object('o', order_id, 't', lock_token, 's', 'succeeded',
                                           'r', 'success', 'age_ms', 0)), '[]')::text AS outs
  FROM recharge_lock('bench-p' || :client_id, :b, 10, '{tz}', 10) \\gset
SELECT count(*) FROM recharge_finish('bench-p' || :client_id, :outs::json, 10, '{tz}');
"""


def fill(run, n):
    psql("DROP TABLE IF EXISTS bench_lease_q; DROP SEQUENCE IF EXISTS bench_lease_tokens; "
         "CREATE SEQUENCE bench_lease_tokens; "
         "CREATE TABLE bench_lease_q (LIKE recharges INCLUDING DEFAULTS INCLUDING CONSTRAINTS "
         "INCLUDING INDEXES)")
    for table in ("bench_lease_q", "recharges"):
        psql(f"INSERT INTO {table} (order_id, shop_id, account, product, face_value, amount, "
             f"requested_at) SELECT '{run}-' || lpad(i::text, 8, '0'), '{run}', '13800138000', "
             f"'mobile-50', 50, 49.5, now() + i * interval '1 microsecond' "
             f"FROM generate_series(1, {n}) i")
    psql("VACUUM ANALYZE bench_lease_q")
    psql("VACUUM ANALYZE recharges")


def pgbench(script, clients, seconds):
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write(script)
    r = subprocess.run([PGBENCH, "-n", "-M", "prepared", "-c", str(clients), "-j",
                        str(min(clients, 2)), "-T", str(seconds), "-f", f.name, DB],
                       capture_output=True, text=True)
    os.unlink(f.name)
    if r.returncode != 0:
        raise SystemExit(f"pgbench failed: {r.stderr}{r.stdout}")
    m = re.search(r"tps = ([\d.]+) \(without initial connection time\)", r.stdout)
    return float(m.group(1))


def lease_cycle(a, run, desk_batch=None):
    slice_s = max(1, a.seconds // a.slices)
    log(f"  lease cycle (lock + complete), pgbench -M prepared -c {a.clients}, {a.slices} slices "
        f"of {slice_s} s each, raw and ours alternating (ABBA), {load()}, "
        f"same PostgreSQL, same queue shape and indexes:")
    results = []
    for batch in a.batches:
        n = int(a.fill_per_batch * batch)
        fill(f"{run}-L{batch}", n)
        # alternating slices (raw, ours, ours, raw, ...): a shared machine's load drifts, and
        # would otherwise favour whichever script ran in the quieter half
        raws, ourss = [], []
        for k in range(a.slices):
            order = ("raw", "ours") if k % 2 == 0 else ("ours", "raw")
            for which in order:
                if which == "raw":
                    raws.append(pgbench(RAW.format(batch=batch), a.clients, slice_s) * batch)
                else:
                    ourss.append(pgbench(OURS.format(batch=batch, tz=TZ), a.clients,
                                         slice_s) * batch)
        raw, ours = statistics.mean(raws), statistics.mean(ourss)
        left_raw = int(psql("SELECT count(*) FROM bench_lease_q WHERE state = 'queued'"))
        left = int(psql(f"SELECT count(*) FROM recharges WHERE order_id LIKE '{run}-L{batch}-%' "
                        "AND state = 'queued'"))
        if not left_raw or not left:
            log(f"    (batch {batch}: the queue ran dry; raise --fill-per-batch)")
        ratio = ours / raw
        results.append((batch, raw, ours, ratio))
        mark = "   <- the desk's batch in phase 1" if batch == desk_batch else ""
        log(f"    batch {batch:>3}: raw SKIP LOCKED {raw:>9,.0f} orders/s   lease protocol "
            f"{ours:>9,.0f} orders/s   ratio {ratio:.2f}{mark}")
        psql(f"DELETE FROM recharge_processor_days WHERE processor LIKE 'bench-p%'; "
             f"DELETE FROM recharge_attempts WHERE order_id LIKE '{run}-L{batch}-%'; "
             f"DELETE FROM recharges WHERE order_id LIKE '{run}-L{batch}-%'")
    psql("DROP TABLE bench_lease_q; DROP SEQUENCE bench_lease_tokens")
    return results


# ---------------------------------------------------------------------------------------
# re-take times after kill -9
# ---------------------------------------------------------------------------------------

def retake(a, run, prov):
    acc = f"{run}-hold"
    prov.configure(accounts={acc: {"latency_ms": 60000, "outcome": "success"}})
    orders = [f"{run}-R{i:05d}" for i in range(a.retake_orders)]
    for g in (f"bench-{run}-h", f"bench-{run}-t"):
        harness.start_group_at_end(_Psql, g)
    holder = harness.RechargeWorker(os.path.join(OUT, "holder.log"), f"{run}-H",
                                    f"bench-{run}-h", prov.url, LOG_LEVEL="warn",
                                    RECHARGE_CALL_TIMEOUT_MS=120000).start()
    taker = None
    try:
        # orders arrive over 2 s, so the holder's leases (and renewals) are spread out
        for k in range(0, a.retake_orders, 10):
            psql("INSERT INTO recharges (order_id, shop_id, account, product, face_value, "
                 f"amount, requested_at) SELECT '{run}-R' || lpad(i::text, 5, '0'), '{run}', "
                 f"'{acc}', 'mobile-50', 50, 49.5, now() - interval '1 day' + i * interval '1 ms' "
                 f"FROM generate_series({k}, {min(k + 9, a.retake_orders - 1)}) i")
            time.sleep(2.0 * 10 / a.retake_orders)
        harness.wait_for(lambda: int(psql(
            f"SELECT count(*) FROM recharges WHERE order_id LIKE '{run}-R%' AND "
            f"locked_by = '{run}-H'")) == len(orders), 60, "the holder's leases")
        time.sleep(4.5)  # it renews (every LOCK_WINDOW_S / 3 while calls are in flight)
        taker = harness.RechargeWorker(os.path.join(OUT, "taker.log"), f"{run}-T",
                                       f"bench-{run}-t", prov.url, LOG_LEVEL="warn").start()
        time.sleep(1)
        holder.kill()
        last = dict(tuple(r.split("|")) for r in psql(
            "SELECT order_id, extract(epoch FROM renewed_at) FROM recharges "
            f"WHERE order_id LIKE '{run}-R%'").splitlines())
        harness.wait_for(lambda: int(psql(
            f"SELECT count(*) FROM recharges WHERE order_id LIKE '{run}-R%' AND "
            f"(locked_by = '{run}-T' OR last_processor = '{run}-T')")) == len(orders), 60,
            "the re-takes")
        got = dict(tuple(r.split("|")) for r in psql(
            "SELECT order_id, extract(epoch FROM locked_at) FROM recharges "
            f"WHERE order_id LIKE '{run}-R%'").splitlines())
        d = sorted(float(got[o]) - float(last[o]) for o in orders)
        log(f"  re-take after kill -9 of a holder of {len(orders)} leases (lease 10 s, queue "
            f"polled every 100 ms): min {d[0]:.3f} s, median {statistics.median(d):.3f} s, "
            f"max {d[-1]:.3f} s after the last renewal")
        return d
    finally:
        holder.kill()
        if taker:
            taker.kill()
        psql(f"DELETE FROM recharges WHERE order_id LIKE '{run}-R%'")  # nothing to finish


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=20000)
    ap.add_argument("--latency-ms", type=int, default=50)
    ap.add_argument("--concurrency", type=int, default=256)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--seconds", type=int, default=10,
                    help="lease cycle: seconds of pgbench per script and batch size")
    ap.add_argument("--slices", type=int, default=2,
                    help="lease cycle: the seconds split in this many runs, raw and ours "
                         "alternating (raw ours, ours raw, ...)")
    ap.add_argument("--batches", type=lambda s: [int(x) for x in s.split(",")], default=[1, 8],
                    help="lease-cycle batch sizes, besides the desk's own (measured in phase 1)")
    ap.add_argument("--fill-per-batch", type=int, default=40000)
    ap.add_argument("--retake-orders", type=int, default=200)
    ap.add_argument("--skip", default="", help="comma list of phases to skip: "
                    "throughput,lease,retake")
    a = ap.parse_args()
    skip = set(filter(None, a.skip.split(",")))
    run = f"rb{int(time.time())}"
    log(f"orderflow recharge benchmark ({run}), {os.cpu_count()} cores; logs in {OUT}")
    versions = psql("SELECT string_agg(version, ' ' ORDER BY version) FROM schema_migrations")
    log(f"  migrations: {versions}; {load()}")
    prov = harness.ProviderProc(os.path.join(OUT, "provider.log")).start()
    try:
        desk_batch = None
        if "throughput" not in skip:
            _, _, per_lock = throughput(a, run, prov)
            desk_batch = max(1, int(round(per_lock)))
            if desk_batch not in a.batches:
                a.batches.append(desk_batch)
            log(f"  ({load()})")
        if "lease" not in skip:
            lease_cycle(a, run, desk_batch)
            log(f"  ({load()})")
        if "retake" not in skip:
            retake(a, run, prov)
            log(f"  ({load()})")
    finally:
        prov.kill()


if __name__ == "__main__":
    main()

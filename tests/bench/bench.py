#!/usr/bin/env python3
"""bench.py — driven by tests/bench/run (which starts the stack and sets DATABASE_URL and
KAFKA_BOOTSTRAP). Phases:
 1. throughput: N orders x 5 events published first, then one order-worker drains them;
    events/s from its first to its last committed event; peak RSS (VmHWM). Then issue 3's
    annotation mix is published with the worker stopped, and drained by it restarted
    (events/s over its committed transactions).
 2. latency: the worker running, events offered at 10,000/s for 30 s; p50/p99 of publish
    (Kafka timestamp) -> committed, from the worker's latency histogram.
 3. limit: COPY of the same rows (the applied_events and orders rows the run produced) into
    copies of those tables, with their indexes, in the same PostgreSQL: rows/s as events/s.
"""
import argparse
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

BUILD = os.environ.get("ORDERFLOW_BUILD_DIR", "build")
WORKER = f"{BUILD}/services/order-worker/orderflow-order-worker"
PUBLISH = f"{BUILD}/services/publish/orderflow-publish"
DB = os.environ["DATABASE_URL"]
STACK = os.environ["STACK_DIR"]
HTTP_PORT = 18199


def psql(sql, *extra):
    return subprocess.run(["psql", DB, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql,
                           *extra], check=True, capture_output=True, text=True).stdout.strip()


def metrics():
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{HTTP_PORT}/metrics", timeout=5) as r:
            return r.read().decode()
    except OSError:
        return ""  # not serving yet


def metric(text, name):
    m = re.search(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


def histogram(text, name):
    """[(upper bound, cumulative count)] of a histogram."""
    out = []
    for m in re.finditer(rf'^{name}_bucket{{[^}}]*le="([^"]+)"}} (\S+)$', text, re.M):
        le = float("inf") if m.group(1) == "+Inf" else float(m.group(1))
        out.append((le, float(m.group(2))))
    return out


def quantile(q, before, after):
    """histogram_quantile over the difference of two snapshots (linear within a bucket)."""
    b = dict(before)
    buckets = [(le, c - b.get(le, 0.0)) for le, c in after]
    total = buckets[-1][1]
    if total <= 0:
        return float("nan")
    rank, lo, prev = q * total, 0.0, 0.0
    for le, c in buckets:
        if c >= rank:
            if le == float("inf"):
                return lo
            return lo + (le - lo) * ((rank - prev) / (c - prev) if c > prev else 1.0)
        lo, prev = le, c
    return lo


def gen(path, orders, prefix, mix=False):
    with open(path, "w") as f:
        subprocess.run([sys.executable, "tests/bench/gen_events.py", "--orders", str(orders),
                        "--prefix", prefix] + (["--mix"] if mix else []), stdout=f, check=True)


def peak_rss(proc):
    """VmHWM of a running process, in kB."""
    with open(f"/proc/{proc.pid}/status") as f:
        return int(re.search(r"VmHWM:\s+(\d+) kB", f.read()).group(1))


def cpu_s(pid):
    """utime + stime of a process in seconds (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def backend_pids():
    """The PostgreSQL backends of order-worker (application_name order-worker)."""
    out = psql("SELECT pid FROM pg_stat_activity WHERE application_name = 'order-worker'")
    return [int(p) for p in out.split()]


def wait_for(pred, timeout, what):
    t0 = time.time()
    while time.time() - t0 < timeout:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise SystemExit(f"bench: timed out waiting for {what}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=200_000)
    ap.add_argument("--rate", type=int, default=10_000)
    ap.add_argument("--latency-seconds", type=int, default=30)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--mix-orders", type=int, default=100_000,
                    help="orders of the annotation mix phase (5 events each; 0 = skip)")
    a = ap.parse_args()
    n_events = a.orders * 5
    run = f"b{int(time.time())}"
    print(f"orderflow ingest benchmark: {a.orders} orders x 5 = {n_events} events, "
          f"{os.cpu_count()} cores")

    bulk = f"{STACK}/bench-{run}.jsonl"
    gen(bulk, a.orders, run)
    t = time.time()
    out = subprocess.run([PUBLISH, bulk], check=True, capture_output=True, text=True).stdout
    print(f"  published {n_events} events in {time.time() - t:.1f} s ({out.strip()})", flush=True)

    # issue 3's realistic mix (60 % lifecycle, 40 % annotation) is published once the bulk
    # is applied: queued behind it, the topic's partitions would interleave the two phases
    mix_events = a.mix_orders * 5
    if a.mix_orders:
        mix = f"{STACK}/bench-{run}-mix.jsonl"
        gen(mix, a.mix_orders, run + "M", mix=True)
    earlier = int(psql("SELECT count(*) FROM applied_events"))
    env = dict(os.environ, HTTP_PORT=str(HTTP_PORT), KAFKA_GROUP_ID=f"bench-{run}",
               LOG_LEVEL="info")
    log = open(f"{STACK}/bench-worker.log", "w")  # kept with --keep
    w = subprocess.Popen([WORKER], env=env, stderr=log)
    try:
        wait_for(lambda: metric(metrics(), "orderflow_events_consumed_total") > 0, 60,
                 "the worker's first batch")
        t0 = time.time()
        # CPU per event (wall-clock is noisy on a shared machine): the worker process and
        # its PostgreSQL backend, from the first batch to the last
        bpids = backend_pids()
        cpu0 = (cpu_s(w.pid), sum(cpu_s(p) for p in bpids))
        # a kept stack holds earlier runs' events: they come back as duplicates
        done = lambda: (metric(m := metrics(), "orderflow_events_applied_total") +
                        metric(m, "orderflow_events_duplicate_total"))
        wait_for(lambda: done() >= n_events + earlier, 900, "all events applied")
        t1 = time.time()
        cpu1 = (cpu_s(w.pid), sum(cpu_s(p) for p in bpids))
        applied = int(psql(f"SELECT count(*) FROM applied_events WHERE id LIKE '{run}-%'"))
        rate = n_events / (t1 - t0)
        print(f"  worker: {applied} applied in {t1 - t0:.2f} s = {rate:,.0f} events/s "
              f"(G1/G2 on: offsets and dedupe in each transaction)", flush=True)
        print(f"  CPU per event: worker {(cpu1[0] - cpu0[0]) * 1e6 / n_events:.1f} us, "
              f"PostgreSQL backend {(cpu1[1] - cpu0[1]) * 1e6 / n_events:.1f} us; load average "
              f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)

        mix_rate = float("nan")
        hwm_bulk = peak_rss(w)
        if a.mix_orders:
            # the worker stops (SIGTERM: commits, leaves the group) while the mix is published,
            # so the publisher does not compete with it, then resumes from the offsets in
            # PostgreSQL; the mix is timed from its first to its last committed transaction
            w.send_signal(signal.SIGTERM)
            w.wait(timeout=60)
            subprocess.run([PUBLISH, mix], check=True, capture_output=True)
            w = subprocess.Popen([WORKER], env=env, stderr=log)
            wait_for(lambda: metric(metrics(), "orderflow_events_consumed_total") > 0, 60,
                     "the restarted worker's first batch")
            # the counters restarted with the process
            wait_for(lambda: done() >= mix_events, 900, "the mix to drain")
            span = float(psql("SELECT extract(epoch FROM max(applied_at) - min(applied_at)) "
                              f"FROM applied_events WHERE id LIKE '{run}M-%'"))
            mix_rate = mix_events / span if span > 0 else float("nan")
            notes = int(psql(f"SELECT count(*) FROM order_notes WHERE order_id LIKE '{run}M-%'"))
            print(f"  annotation mix: {mix_events} events ({a.mix_orders} orders, 40 % "
                  f"annotation), {notes} notes written: {mix_rate:,.0f} events/s = "
                  f"{mix_rate / rate:.2f} of the plain ingest rate", flush=True)

        # latency at a fixed offered rate
        lat_orders = a.rate * a.latency_seconds // 5
        lat = f"{STACK}/bench-{run}-lat.jsonl"
        gen(lat, lat_orders, run + "L")
        m0 = metrics()
        before = histogram(m0, "orderflow_event_latency_seconds")
        batches0 = histogram(m0, "orderflow_batch_duration_seconds")
        n_batches0 = metric(m0, "orderflow_batches_total")
        applied0 = metric(m0, "orderflow_events_applied_total")
        subprocess.run([PUBLISH, "--rate", str(a.rate), lat], check=True, capture_output=True)
        wait_for(lambda: metric(metrics(), "orderflow_events_applied_total") >=
                 applied0 + lat_orders * 5, 120, "the latency phase to drain")
        m1 = metrics()
        after = histogram(m1, "orderflow_event_latency_seconds")
        p50, p99 = quantile(0.5, before, after), quantile(0.99, before, after)
        print(f"  latency at {a.rate:,} events/s offered for {a.latency_seconds} s: "
              f"p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms (publish -> committed)")
        # what the latency is made of: the transactions' own duration
        batches1 = histogram(m1, "orderflow_batch_duration_seconds")
        n_batches = metric(m1, "orderflow_batches_total") - n_batches0
        print(f"    {n_batches:.0f} transactions of {lat_orders * 5 / max(n_batches, 1):.0f} "
              f"events on average, each taking p50 "
              f"{quantile(0.5, batches0, batches1) * 1000:.0f} ms, p99 "
              f"{quantile(0.99, batches0, batches1) * 1000:.0f} ms")
        hwm = max(hwm_bulk, peak_rss(w))
        print(f"  worker peak RSS: {hwm / 1024:.1f} MiB")
    finally:
        w.send_signal(signal.SIGTERM)
        rc = w.wait(timeout=60)
        print(f"  worker stopped with SIGTERM: exit {rc}")

    # the physical limit: COPY of the same rows into the same PostgreSQL
    a_csv, o_csv = f"{STACK}/bench-applied.csv", f"{STACK}/bench-orders.csv"
    psql(f"\\copy (SELECT * FROM applied_events WHERE id LIKE '{run}-%') TO '{a_csv}' CSV")
    # generated columns (if any) are computed by PostgreSQL on COPY, not copied; orders.items_key
    # is a plain column since 0007 (the worker computes it), so it is copied like the others
    cols = psql("SELECT string_agg(quote_ident(column_name), ', ' ORDER BY ordinal_position) "
                "FROM information_schema.columns WHERE table_name = 'orders' "
                "AND is_generated = 'NEVER'")
    psql(f"\\copy (SELECT {cols} FROM orders WHERE order_id LIKE '{run}-%') TO '{o_csv}' CSV")
    psql("DROP TABLE IF EXISTS bench_copy_applied, bench_copy_orders; "
         "CREATE TABLE bench_copy_applied (LIKE applied_events INCLUDING ALL); "
         "CREATE TABLE bench_copy_orders (LIKE orders INCLUDING ALL)")
    t = time.time()
    psql(f"\\copy bench_copy_applied FROM '{a_csv}' CSV")
    psql(f"\\copy bench_copy_orders ({cols}) FROM '{o_csv}' CSV")
    copy_s = time.time() - t
    psql("DROP TABLE bench_copy_applied, bench_copy_orders")
    copy_rate = n_events / copy_s
    print(f"  limit: COPY of the same rows ({n_events} applied_events + {a.orders} orders) "
          f"in {copy_s:.2f} s = {copy_rate:,.0f} events/s")
    print(f"  ratio worker / COPY: {rate / copy_rate:.2f}")
    print(f"SUMMARY events_per_s={rate:.0f} mix_events_per_s={mix_rate:.0f} "
          f"copy_events_per_s={copy_rate:.0f} "
          f"ratio={rate / copy_rate:.2f} p50_ms={p50 * 1000:.0f} p99_ms={p99 * 1000:.0f} "
          f"peak_rss_mib={hwm / 1024:.1f}")


if __name__ == "__main__":
    main()

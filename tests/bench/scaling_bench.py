#!/usr/bin/env python3
"""scaling_bench.py — issue 7's speed question: how throughput grows from 1 to 2 order-worker
processes on this machine, with PostgreSQL (and Kafka) on the same machine, and where the
bottleneck is. Driven by tests/bench/scaling_run (its own stack).

For each worker count n (1, then 2): N orders x 5 events of a run of their own are published
first, then n workers of one consumer group drain them; events/s over the applied_at span of
the run's events. Beside it, in the same phase: the CPU seconds of the workers, of every
PostgreSQL process and of the Kafka broker, and the machine's busy share of its cores
(/proc/stat), so the figures say which of them took the cores."""
import argparse
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (the ingest benchmark's helpers)


def pids_of(pattern):
    out = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def machine_busy():
    """(busy, total) jiffies of all cores since boot."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return sum(v) - idle, sum(v)


def wait_for(pred, timeout, what):
    """bench.wait_for polls every 50 ms; here each poll starts a psql, so once a second (the
    rate is taken from applied_at, not from when the poll saw the end)."""
    t0 = time.time()
    while not pred():
        if time.time() - t0 > timeout:
            raise SystemExit(f"bench: timed out waiting for {what}")
        time.sleep(1)


def phase(n, orders, run, group):
    events = orders * 5
    path = f"{bench.STACK}/scale-{run}.jsonl"
    bench.gen(path, orders, run)
    subprocess.run([bench.PUBLISH, path], check=True, capture_output=True)
    pg = pids_of(f"postgres.*{bench.STACK}") or pids_of("postgres")
    kafka = pids_of("kafka.Kafka")
    cpu = lambda ps: sum(bench.cpu_s(p) for p in ps)  # noqa: E731
    procs = []
    for i in range(n):
        env = dict(os.environ, HTTP_PORT=str(18300 + i), KAFKA_GROUP_ID=group, LOG_LEVEL="warn")
        procs.append(subprocess.Popen([bench.WORKER], env=env,
                                      stderr=open(f"{bench.STACK}/scale-{run}-{i}.log", "w")))
    count = lambda: int(bench.psql(  # noqa: E731
        f"SELECT count(*) FROM applied_events WHERE id LIKE '{run}-%'"))
    wait_for(lambda: count() > 0, 120, "the first batch")
    pg = sorted(set(pg) | set(pids_of("postgres")))
    c0 = (cpu(p.pid for p in procs), cpu(pg), cpu(kafka), machine_busy())
    wait_for(lambda: count() >= events, 1800, f"{events} events with {n} worker(s)")
    c1 = (cpu(p.pid for p in procs), cpu(pg), cpu(kafka), machine_busy())
    span = float(bench.psql("SELECT extract(epoch FROM max(applied_at) - min(applied_at)) "
                            f"FROM applied_events WHERE id LIKE '{run}-%'"))
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        p.wait(timeout=60)
    busy = (c1[3][0] - c0[3][0]) / max(1, c1[3][1] - c0[3][1])
    return dict(rate=events / span, worker_us=(c1[0] - c0[0]) * 1e6 / events,
                pg_us=(c1[1] - c0[1]) * 1e6 / events, kafka_us=(c1[2] - c0[2]) * 1e6 / events,
                busy=busy)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=100_000, help="per phase, 5 events each")
    a = ap.parse_args()
    run = f"s{int(time.time())}"
    group = f"scale-{run}"
    print(f"order-worker scaling: {a.orders * 5} events per phase, {os.cpu_count()} cores, "
          "PostgreSQL and Kafka on the same machine")
    results = {}
    for n in (1, 2):
        r = phase(n, a.orders, f"{run}n{n}", group)
        results[n] = r
        print(f"  {n} worker(s): {r['rate']:,.0f} events/s; CPU per event: workers "
              f"{r['worker_us']:.1f} us, PostgreSQL {r['pg_us']:.1f} us, Kafka "
              f"{r['kafka_us']:.1f} us; cores busy {r['busy'] * 100:.0f} %", flush=True)
    print(f"  2 / 1 workers: {results[2]['rate'] / results[1]['rate']:.2f}x")
    print(f"SUMMARY one={results[1]['rate']:.0f} two={results[2]['rate']:.0f} "
          f"speedup={results[2]['rate'] / results[1]['rate']:.2f} "
          f"busy_two={results[2]['busy']:.2f}")


if __name__ == "__main__":
    main()

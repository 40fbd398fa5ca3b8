"""Fixtures of the integration suite: it runs against the REAL stack (PostgreSQL + Kafka
from deploy/local/stack) and the built order-worker, with no mocks.

Environment: DATABASE_URL (required; the whole suite is skipped without it),
KAFKA_BOOTSTRAP (127.0.0.1:9092), ORDERFLOW_BUILD_DIR (build), ORDERFLOW_ARTIFACTS
(tests/artifacts/integration: the workers' logs, kept after the run).

Topics are shared by every test, and each test's worker runs in a consumer group of its
own, so it reads shop.orders from the beginning: everything earlier tests published passes
through it (as duplicates or dead letters again). Each test therefore uses ids of its own
(`ids` fixture: a unique shop, so a unique event source, and unique order ids) and scopes
every assertion to them.
"""
import copy
import glob
import json
import os
import pwd
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "provider"))
from harness import LogFile, free_port  # noqa: E402,F401  (shared with the provider tests)

DATABASE_URL = os.environ.get("DATABASE_URL", "")
KAFKA_BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092")
BUILD_DIR = os.path.join(REPO, os.environ.get("ORDERFLOW_BUILD_DIR", "build"))
ARTIFACTS = os.environ.get("ORDERFLOW_ARTIFACTS",
                           os.path.join(REPO, "tests", "artifacts", "integration"))
WORKER_BIN = os.path.join(BUILD_DIR, "services", "order-worker", "orderflow-order-worker")

TOPIC_ORDERS = "shop.orders"
TOPIC_DEADLETTER = "shop.deadletter"
LIFECYCLE = ["order.created", "order.paid", "order.printed", "order.shipped", "order.closed"]

if DATABASE_URL:
    import confluent_kafka
    import psycopg


# ---------------------------------------------------------------------------------------
# collection: skip without a stack; G1 (the long one) last
# ---------------------------------------------------------------------------------------

def pytest_collection_modifyitems(config, items):
    if not DATABASE_URL:
        skip = pytest.mark.skip(
            reason="DATABASE_URL is not set: the integration suite needs the real stack "
                   "(eval \"$(deploy/local/stack up)\", or tests/run)")
        for item in items:
            item.add_marker(skip)
        return
    items.sort(key=lambda item: 1 if item.get_closest_marker("last") else 0)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def _failed(request):
    return any(getattr(request.node, "rep_" + w, None) is not None and
               getattr(request.node, "rep_" + w).failed for w in ("setup", "call"))


# ---------------------------------------------------------------------------------------
# waiting
# ---------------------------------------------------------------------------------------

def wait_until(pred, timeout, what, interval=0.1, running=()):
    """Polls pred() until it returns something truthy, which is returned; fails after
    timeout seconds, naming what was awaited and the last value seen, or as soon as one
    of the workers in `running` has exited."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        for w in running:
            w.check_running(f"while waiting for {what}")
        last = pred()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what} "
                                 f"(last value: {last!r})")
        time.sleep(interval)


# ---------------------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------------------

class Db:
    """A PostgreSQL session in autocommit mode that reconnects when the server went away
    (the resilience tests stop it)."""

    def __init__(self, url):
        self.url = url
        self.conn = None

    def _connect(self):
        if self.conn is None or self.conn.closed or self.conn.broken:
            self.close()
            self.conn = psycopg.connect(self.url, autocommit=True, connect_timeout=5)
        return self.conn

    def all(self, sql, params=None):
        for attempt in range(2):
            try:
                with self._connect().cursor() as cur:
                    cur.execute(sql, params)
                    return cur.fetchall() if cur.description else []
            except psycopg.OperationalError:
                self.close()
                if attempt:
                    raise
        return []

    def one(self, sql, params=None):
        rows = self.all(sql, params)
        return rows[0] if rows else None

    def scalar(self, sql, params=None):
        row = self.one(sql, params)
        return row[0] if row else None

    def try_scalar(self, sql, params=None):
        """scalar(), or None while PostgreSQL is unreachable."""
        try:
            return self.scalar(sql, params)
        except psycopg.OperationalError:
            return None

    def close(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:
                pass
        self.conn = None


@pytest.fixture(scope="session")
def db():
    d = Db(DATABASE_URL)
    yield d
    d.close()


def applied_count(db, source):
    return db.scalar("SELECT count(*) FROM applied_events WHERE source = %s", (source,))


# ---------------------------------------------------------------------------------------
# events
# ---------------------------------------------------------------------------------------

def _load_valid_examples():
    out = {}
    for path in glob.glob(os.path.join(REPO, "tests", "events", "valid", "order.*.json")):
        name = os.path.basename(path)[:-5]
        with open(path, encoding="utf-8") as f:
            out[name] = json.load(f)
    return out


VALID = _load_valid_examples()


class Ids:
    """Ids of one test: a shop of its own (so an event source of its own) and order ids
    and event ids that no other test or run uses."""

    def __init__(self, tag):
        self.run = uuid.uuid4().hex[:10]
        self.prefix = f"it-{tag}-{self.run}"
        self.shop = self.prefix
        self.source = f"shop/{self.shop}"
        self._n = 0

    def order(self, n=None):
        if n is None:
            self._n += 1
            n = self._n
        return f"{self.prefix}-o{n}"

    def event_id(self, order_id, etype, extra=""):
        return f"{order_id}-{etype.split('.', 1)[1]}{extra}"

    def event(self, etype, order_id, *, example=None, event_id=None, data=None, time_=None):
        """A valid event of etype for order_id, from the shared valid example (data
        merged over the example's)."""
        ev = copy.deepcopy(VALID[example or etype])
        ev["id"] = event_id or self.event_id(order_id, etype)
        ev["source"] = self.source
        ev["subject"] = order_id
        ev["data"]["order_id"] = order_id
        if "shop_id" in ev["data"]:
            ev["data"]["shop_id"] = self.shop
        if data:
            ev["data"].update(data)
        if time_:
            ev["time"] = time_
        return ev

    def lifecycle(self, order_id):
        """The five events of a full lifecycle, in publication order."""
        created = self.event("order.created", order_id)
        total = created["data"]["total"]
        return [created,
                self.event("order.paid", order_id, data={"amount": total}),
                self.event("order.printed", order_id),
                self.event("order.shipped", order_id),
                self.event("order.closed", order_id, example="order.closed",
                           data={"reason": "交易成功"})]


@pytest.fixture
def ids(request):
    tag = re.sub(r"[^A-Za-z0-9]", "", request.node.name.replace("test_", ""))[:16]
    return Ids(tag.lower())


# ---------------------------------------------------------------------------------------
# Kafka
# ---------------------------------------------------------------------------------------

class Sent:
    """One produced message; partition and offset are known after Publisher.flush()."""
    __slots__ = ("key", "value", "event", "partition", "offset", "error")

    def __init__(self, key, value):
        self.key, self.value, self.event = key, value, None
        self.partition = self.offset = self.error = None

    def _done(self, err, msg):
        if err is not None:
            self.error = err
        else:
            self.partition, self.offset = msg.partition(), msg.offset()


_MISSING = object()


class Publisher:
    """A confluent_kafka producer (idempotent, so each key's messages keep their order)."""

    def __init__(self, bootstrap):
        self.p = confluent_kafka.Producer({
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 10,
            "batch.num.messages": 10000,
            "queue.buffering.max.messages": 500000,
            "queue.buffering.max.kbytes": 1048576,
            "message.max.bytes": 2000000,
            "compression.type": "lz4",
        })
        self.pending = []

    def _produce(self, topic, value, key, headers, partition):
        sent = Sent(key, value)
        kw = {"value": value, "headers": headers, "on_delivery": sent._done}
        if key is not None:
            kw["key"] = key
        if partition is not None:
            kw["partition"] = partition
        while True:
            try:
                self.p.produce(topic, **kw)
                break
            except BufferError:
                self.p.poll(0.05)
        self.p.poll(0)
        self.pending.append(sent)
        return sent

    def structured(self, event, *, key=_MISSING, topic=TOPIC_ORDERS, partition=None,
                   content_type="application/cloudevents+json; charset=UTF-8"):
        """Publishes a CloudEvents event in structured mode: the value is the whole event,
        the key its subject (unless given), content-type application/cloudevents+json."""
        value = event if isinstance(event, bytes) else \
            json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()
        if key is _MISSING:
            key = event["subject"]
        headers = [("content-type", content_type.encode())] if content_type else []
        sent = self._produce(topic, value, key, headers, partition)
        sent.event = event if isinstance(event, dict) else None
        return sent

    def binary(self, event, *, key=_MISSING, topic=TOPIC_ORDERS, partition=None, drop=()):
        """Publishes an event in CloudEvents binary mode: attributes as ce_* headers, the
        value is the data, content-type application/json. drop: attributes left out."""
        headers = [(f"ce_{k}", str(v).encode()) for k, v in event.items()
                   if k not in ("data", "datacontenttype") and k not in drop]
        headers.append(("content-type", b"application/json"))
        if key is _MISSING:
            key = event["subject"]
        value = json.dumps(event["data"], ensure_ascii=False).encode()
        sent = self._produce(topic, value, key, headers, partition)
        sent.event = event
        return sent

    def raw(self, value, *, key=None, headers=None, topic=TOPIC_ORDERS, partition=None):
        return self._produce(topic, value, key, headers or [], partition)

    def flush(self, timeout=120):
        left = self.p.flush(timeout)
        assert left == 0, f"{left} message(s) not delivered to Kafka within {timeout} s"
        bad = [s for s in self.pending if s.error is not None]
        assert not bad, f"{len(bad)} message(s) not delivered: {bad[0].error}"
        done, self.pending = self.pending, []
        return done


@pytest.fixture(scope="session")
def publisher():
    p = Publisher(KAFKA_BOOTSTRAP)
    yield p
    p.p.flush(30)


def kafka_consumer(**extra):
    conf = {"bootstrap.servers": KAFKA_BOOTSTRAP, "group.id": f"it-reader-{uuid.uuid4().hex}",
            "enable.auto.commit": False, "auto.offset.reset": "earliest",
            "enable.partition.eof": False}
    conf.update(extra)
    return confluent_kafka.Consumer(conf)


def end_offsets(topic):
    """{partition: high watermark} of a topic now."""
    c = kafka_consumer()
    try:
        md = c.list_topics(topic, timeout=10)
        out = {}
        for p in md.topics[topic].partitions:
            lo, hi = c.get_watermark_offsets(confluent_kafka.TopicPartition(topic, p), timeout=10)
            out[p] = hi
        return out
    finally:
        c.close()


def read_topic(topic, start, want, timeout=30):
    """Reads topic from the offsets in start ({partition: offset}) until want(messages)
    is truthy (given the list of messages read so far) or timeout; returns the list."""
    c = kafka_consumer()
    msgs = []
    try:
        c.assign([confluent_kafka.TopicPartition(topic, p, o) for p, o in start.items()])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            batch = c.consume(1000, 0.5)
            msgs.extend(m for m in batch if m.error() is None)
            if want(msgs):
                break
        return msgs
    finally:
        c.close()


# ---------------------------------------------------------------------------------------
# order-worker processes
# ---------------------------------------------------------------------------------------

def http_get(port, path, timeout=3):
    """(status, body) of GET http://127.0.0.1:port/path; (None, error) when it fails."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError as e:
        return None, str(e)


def metric_value(text, name):
    """Sum of a Prometheus metric's samples in a /metrics text."""
    total = 0.0
    for m in re.finditer(rf"^{re.escape(name)}(?:{{[^}}]*}})? (\S+)$", text, re.M):
        total += float(m.group(1))
    return total


class Worker(LogFile):
    """One orderflow-order-worker process."""

    def __init__(self, group, log_path, env):
        self.group = group
        self.log_path = log_path
        self.env = env
        self.port = int(env["HTTP_PORT"])
        self.proc = None
        self.returncode = None

    def start(self):
        assert os.access(WORKER_BIN, os.X_OK), \
            f"{WORKER_BIN} is not built (cmake --build; ORDERFLOW_BUILD_DIR={BUILD_DIR})"
        with open(self.log_path, "ab") as log:
            log.write(f"--- start (group {self.group}, port {self.port})\n".encode())
            log.flush()
            self.proc = subprocess.Popen([WORKER_BIN], env=self.env, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log, start_new_session=True)
        self.returncode = None
        return self

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def check_running(self, when=""):
        if not self.alive():
            raise AssertionError(f"order-worker (pid {self.proc.pid}, group {self.group}) "
                                 f"exited with {self.proc.returncode} {when}; log "
                                 f"{self.log_path}:\n{self.log_tail()}")

    def get(self, path):
        return http_get(self.port, path)

    def wait_ready(self, timeout=60):
        def ready():
            assert self.alive(), f"order-worker exited with {self.proc.returncode} " \
                                 f"while starting; log: {self.log_path}\n{self.log_tail()}"
            return self.get("/readyz")[0] == 200
        wait_until(ready, timeout, f"order-worker /readyz on port {self.port}")
        return self

    def metric(self, name):
        status, body = self.get("/metrics")
        return metric_value(body, name) if status == 200 else None

    def stop(self, timeout=60):
        """SIGTERM; returns the exit code (waits at most timeout seconds)."""
        if not self.alive():
            self.returncode = self.proc.returncode
            return self.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.returncode = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"order-worker did not exit within {timeout} s of SIGTERM; "
                                 f"killed (log: {self.log_path})")
        return self.returncode

    def kill(self):
        """SIGKILL (kill -9), as a crash."""
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)
        self.returncode = self.proc.returncode
        return self.returncode



def worker_env(group, port, **extra):
    # Only the settings meant for the worker: any other KAFKA_* variable in the test's
    # environment (KAFKA_PORT of the stack, say) would be passed to librdkafka.
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAFKA_")}
    env.update({"DATABASE_URL": DATABASE_URL, "KAFKA_BOOTSTRAP": KAFKA_BOOTSTRAP,
                "KAFKA_GROUP_ID": group, "HTTP_PORT": str(port), "LOG_LEVEL": "info"})
    env.update({k: str(v) for k, v in extra.items()})
    return env


@pytest.fixture
def workers(request, db, ids):
    """Factory of order-worker processes: workers.new(**env) makes one (not started), in
    a consumer group of its own unless group= is given. Logs go to ARTIFACTS/<test>/;
    whatever still runs at the end of the test is killed, and on failure the logs' tails
    are printed.

    A new group starts at the end of shop.orders (its offsets stored in PostgreSQL before
    its first worker starts), so a test's time does not grow with what earlier tests
    published; from_beginning=True makes it read the whole topic, as a brand-new group
    of order-worker does. Make the group before publishing what it must consume."""
    test_dir = os.path.join(ARTIFACTS, re.sub(r"[^A-Za-z0-9_.-]", "_", request.node.name))
    os.makedirs(test_dir, exist_ok=True)
    made = []
    groups = []

    class Factory:
        group_base = f"it-{ids.run}-{request.node.name[:40]}"

        def new_group(self, from_beginning=False):
            g = f"{self.group_base}-g{len(groups) + 1}"
            groups.append(g)
            if not from_beginning:
                start_group_at_end(db, g)
            return g

        def new(self, group=None, from_beginning=False, **extra):
            g = group or self.new_group(from_beginning)
            n = len(made) + 1
            w = Worker(g, os.path.join(test_dir, f"worker-{n}.log"),
                       worker_env(g, free_port(), **extra))
            made.append(w)
            return w

        def start(self, group=None, from_beginning=False, **extra):
            return self.new(group, from_beginning, **extra).start().wait_ready()

    yield Factory()
    for w in made:
        if w.alive():
            w.kill()
    if _failed(request):
        for w in made:
            print(f"\n----- {w.log_path} (last lines) -----\n{w.log_tail()}")


# ---------------------------------------------------------------------------------------
# the stack's PostgreSQL server (stopped and started by the resilience tests)
# ---------------------------------------------------------------------------------------

class PgServer:
    """Stops and starts the stack's PostgreSQL with pg_ctl, as the cluster's owner (the
    "postgres" user when the tests run as root, as deploy/local/stack does)."""

    def __init__(self, db):
        self.datadir = db.scalar("SHOW data_directory")
        major = int(db.scalar("SHOW server_version_num")) // 10000
        bindir = os.environ.get("PG_BIN") or f"/usr/lib/postgresql/{major}/bin"
        self.pg_ctl = os.path.join(bindir, "pg_ctl")
        self.log = os.path.join(os.path.dirname(self.datadir), "pg.log")
        owner = os.stat(self.datadir).st_uid
        self.prefix = []
        if os.geteuid() == 0 and owner != 0:
            self.prefix = ["runuser", "-u", pwd.getpwuid(owner).pw_name, "--"]
        elif os.geteuid() != owner:
            pytest.skip(f"PostgreSQL's data directory {self.datadir} belongs to another user")

    def _ctl(self, *args):
        r = subprocess.run(self.prefix + [self.pg_ctl, "-D", self.datadir, *args], cwd="/",
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, f"pg_ctl {' '.join(args)} failed: {r.stdout}{r.stderr}"

    def running(self):
        r = subprocess.run(self.prefix + [self.pg_ctl, "-D", self.datadir, "status"], cwd="/",
                           capture_output=True, text=True)
        return r.returncode == 0

    def stop(self):
        self._ctl("stop", "-m", "fast", "-w", "-t", "60")

    def start(self):
        self._ctl("start", "-w", "-t", "60", "-s", "-l", self.log)


@pytest.fixture
def pg_server(db):
    if not os.path.isdir(os.path.dirname(db.scalar("SHOW data_directory"))):
        pytest.skip("PostgreSQL does not run on this machine: it cannot be stopped")
    srv = PgServer(db)
    if not os.access(srv.pg_ctl, os.X_OK):
        pytest.skip(f"no {srv.pg_ctl}")
    yield srv
    if not srv.running():
        srv.start()
    db.close()


# ---------------------------------------------------------------------------------------
# shared assertions
# ---------------------------------------------------------------------------------------

def start_group_at_end(db, group, topic=TOPIC_ORDERS):
    """Stores the topic's current end offsets as the group's offsets in PostgreSQL (where
    order-worker keeps them), so a new group skips what earlier tests published."""
    for p, end in end_offsets(topic).items():
        db.all("INSERT INTO consumer_offsets (group_id, topic, partition, next_offset) "
               "VALUES (%s, %s, %s, %s)", (group, topic, p, end))


def assert_offsets_consistent(db, group, sent):
    """The offsets the group stored in PostgreSQL agree with the effects: every message
    of `sent` (this test's valid, first-time events) below its partition's stored next
    offset is in applied_events, at that very partition and offset, and none at or
    above it is. Returns how many are applied."""
    stored = dict(db.all("SELECT partition, next_offset FROM consumer_offsets "
                         "WHERE group_id = %s AND topic = %s", (group, TOPIC_ORDERS)))
    sources = sorted({s.event["source"] for s in sent})
    applied = {(src, i): (p, o) for src, i, p, o in db.all(
        'SELECT source, id, partition, "offset" FROM applied_events WHERE source = ANY(%s)',
        (sources,))}
    below_missing, above_applied, misplaced = [], [], []
    for s in sent:
        k = (s.event["source"], s.event["id"])
        if s.offset < stored.get(s.partition, 0):
            if k not in applied:
                below_missing.append(k)
            elif applied[k] != (s.partition, s.offset):
                misplaced.append((k, applied[k], (s.partition, s.offset)))
        elif k in applied:
            above_applied.append(k)
    assert not below_missing, (f"{len(below_missing)} event(s) below the stored offsets were "
                               f"never applied, e.g. {below_missing[:3]} (offsets {stored})")
    assert not above_applied, (f"{len(above_applied)} event(s) applied but not covered by "
                               f"the stored offsets, e.g. {above_applied[:3]} (offsets {stored})")
    assert not misplaced, f"applied from another partition/offset: {misplaced[:3]}"
    return len(applied)


def assert_lifecycle_complete(db, ids, sent, orders):
    """Every event of `sent` applied exactly once and in publication order per order;
    each order of `orders` shipped, closed, version 5; no dead letters of this test."""
    assert_applied_in_order(db, ids, sent)
    bad = db.all("SELECT order_id, state, closed, version FROM orders "
                 "WHERE order_id = ANY(%s) AND NOT (state = 'shipped' AND closed AND version = 5)",
                 (list(orders),))
    assert not bad, f"{len(bad)} order(s) not shipped+closed at version 5, e.g. {bad[:3]}"
    n = db.scalar("SELECT count(*) FROM orders WHERE order_id = ANY(%s)", (list(orders),))
    assert n == len(orders), f"{len(orders) - n} order(s) missing from orders"
    assert_no_dead_letters(db, ids)


def assert_applied_in_order(db, ids, sent):
    """applied_events holds exactly the events of `sent` (this test's source), once each,
    and each order's events in the order they were published."""
    rows = db.all("SELECT subject, id, seq FROM applied_events WHERE source = %s ORDER BY seq",
                  (ids.source,))
    published = [s.event["id"] for s in sent]
    applied = [r[1] for r in rows]
    assert len(applied) == len(set(applied))
    missing = set(published) - set(applied)
    extra = set(applied) - set(published)
    assert not missing, f"{len(missing)} event(s) never applied, e.g. {sorted(missing)[:5]}"
    assert not extra, f"{len(extra)} unexpected event(s) applied, e.g. {sorted(extra)[:5]}"
    want = {}
    for s in sent:
        want.setdefault(s.event["subject"], []).append(s.event["id"])
    got = {}
    for subject, i, _ in rows:
        got.setdefault(subject, []).append(i)
    wrong = [o for o in want if got.get(o) != want[o]]
    assert not wrong, (f"{len(wrong)} order(s) applied out of publication order, e.g. "
                       f"{wrong[0]}: applied {got.get(wrong[0])}, published {want[wrong[0]]}")


def assert_no_dead_letters(db, ids):
    dl = db.all("SELECT partition, \"offset\", reason FROM dead_letters "
                "WHERE event_source = %s OR (event_source IS NULL AND payload_text LIKE %s) "
                "LIMIT 5", (ids.source, f"%{ids.prefix}%"))
    assert not dl, f"dead letters for this test's events: {dl}"


def interleave(per_order, rng):
    """One publication sequence of all events of per_order (a list of per-order event
    lists), randomly interleaved while each order's own events keep their order."""
    queues = [list(evs) for evs in per_order if evs]
    out = []
    while queues:
        k = rng.randrange(len(queues))
        out.append(queues[k].pop(0))
        if not queues[k]:
            queues[k] = queues[-1]
            queues.pop()
    return out


class Background(threading.Thread):
    """Runs fn(stop_event) in a thread; join() re-raises what it raised."""

    def __init__(self, fn):
        super().__init__(daemon=True)
        self.fn, self.stop_event, self.error, self.result = fn, threading.Event(), None, None

    def run(self):
        try:
            self.result = self.fn(self.stop_event)
        except BaseException as e:  # noqa: B036 — handed to the test's thread
            self.error = e

    def finish(self, timeout=300):
        self.stop_event.set()
        self.join(timeout)
        assert not self.is_alive(), "background publisher did not finish"
        if self.error:
            raise self.error
        return self.result

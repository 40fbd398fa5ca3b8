"""Helpers of the rule tests (test_rules_pipeline.py, test_stories.py): the rule table of
tests/rules/ (the same rows tests/unit/test_rules.c applies in memory), building its
events, publishing them to shop.orders, running orderflow-order-worker, waiting until
its consumer group has consumed what was published, and reading back what the rules
left in PostgreSQL's views, in the shape the table's "expect" uses.

Environment: DATABASE_URL, KAFKA_BOOTSTRAP (127.0.0.1:9092), ORDERFLOW_BUILD_DIR (build),
ORDERFLOW_ARTIFACTS (tests/artifacts/integration: the workers' logs).

Self-contained on purpose (only the standard library, confluent_kafka and psycopg), so it
does not depend on the fixtures of conftest.py.
"""
import copy
import datetime
import decimal
import glob
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid

from conftest import free_port  # a function, not a fixture: never the same port twice

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
RULES_DIR = os.path.join(REPO, "tests", "rules")
DATABASE_URL = os.environ.get("DATABASE_URL", "")
KAFKA_BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092")
BUILD_DIR = os.path.join(REPO, os.environ.get("ORDERFLOW_BUILD_DIR", "build"))
ARTIFACTS = os.environ.get("ORDERFLOW_ARTIFACTS",
                           os.path.join(REPO, "tests", "artifacts", "integration"))
WORKER_BIN = os.path.join(BUILD_DIR, "services", "order-worker", "orderflow-order-worker")
TOPIC = "shop.orders"

TIME_FIELDS = {"paid_at", "printed_at", "shipped_at", "closed_at", "refund_from", "created_at"}


def run_id():
    """A short id of one test run: prefixes every order, buyer and event id it makes."""
    return uuid.uuid4().hex[:8]


def wait_until(pred, timeout, what, interval=0.05):
    """Polls pred() until it returns something truthy (returned); fails after timeout s."""
    deadline = time.monotonic() + timeout
    while True:
        last = pred()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what} "
                                 f"(last value: {last!r})")
        time.sleep(interval)


# ---------------------------------------------------------------------------------------
# the table and its events (the same rules as tests/unit/test_rules.c, see
# tests/rules/README.md)
# ---------------------------------------------------------------------------------------

class Row:
    def __init__(self, file, index, row):
        self.file, self.index, self.row = file, index, row
        self.name = row["name"]
        xf = row.get("xfail")
        self.xfail = xf.get("pipeline") if isinstance(xf, dict) else xf

    @property
    def expect(self):
        return self.row["expect"]

    @property
    def rule(self):
        return self.name.split(" ", 1)[0]


def load_defaults():
    with open(os.path.join(RULES_DIR, "_defaults.json"), encoding="utf-8") as f:
        return json.load(f)


def load_rows():
    """Every row of tests/rules/*.json, files in name order (as the C test numbers them)."""
    rows = []
    for path in sorted(glob.glob(os.path.join(RULES_DIR, "*.json"))):
        base = os.path.basename(path)
        if base.startswith("_"):
            continue
        with open(path, encoding="utf-8") as f:
            table = json.load(f)
        for row in table["rows"]:
            rows.append(Row(base, len(rows), row))
    return rows


def expand(v, prefix):
    """A copy of v with every string "@x" made the row's id prefix + "x"."""
    if isinstance(v, str):
        return prefix + v[1:] if v.startswith("@") else v
    if isinstance(v, list):
        return [expand(e, prefix) for e in v]
    if isinstance(v, dict):
        return {k: expand(e, prefix) for k, e in v.items()}
    return v


def build_event(defaults, step, prefix, n, source):
    """The CloudEvents event of a step: its type's default data with the step's merged
    over, order_id/subject the prefixed order alias, id prefix + "e<n>"."""
    spec = {"type": step} if isinstance(step, str) else step
    etype = spec["type"]
    order_id = prefix + spec.get("order", "A")
    data = expand(copy.deepcopy(defaults["data"].get(etype, {})), prefix)
    data.update(expand(copy.deepcopy(spec.get("data", {})), prefix))
    for f in spec.get("drop", []):
        data.pop(f, None)
    if spec.get("attach", True):
        data["order_id"] = order_id
    if "shop_id" in data:
        data["shop_id"] = source.split("/", 1)[1]
    return {"specversion": "1.0", "id": f"{prefix}e{n}", "source": source, "type": etype,
            "time": spec.get("time", defaults["time"]), "subject": order_id,
            "datacontenttype": "application/json", "data": data}


# ---------------------------------------------------------------------------------------
# Kafka
# ---------------------------------------------------------------------------------------

class Sent:
    """One produced message; partition and offset are known once flushed."""
    __slots__ = ("event", "partition", "offset", "error")

    def __init__(self, event):
        self.event, self.partition, self.offset, self.error = event, None, None, None

    def _done(self, err, msg):
        if err is not None:
            self.error = err
        else:
            self.partition, self.offset = msg.partition(), msg.offset()


class Publisher:
    """Structured-mode CloudEvents on shop.orders, key = subject (idempotent producer, so
    each key's messages stay in order)."""

    def __init__(self, bootstrap=KAFKA_BOOTSTRAP):
        import confluent_kafka
        self.p = confluent_kafka.Producer({"bootstrap.servers": bootstrap,
                                           "enable.idempotence": True, "acks": "all",
                                           "linger.ms": 5})
        self.pending = []

    def publish(self, event):
        sent = Sent(event)
        value = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()
        while True:
            try:
                self.p.produce(TOPIC, value=value, key=event["subject"].encode(),
                               headers=[("content-type",
                                         b"application/cloudevents+json; charset=UTF-8")],
                               on_delivery=sent._done)
                break
            except BufferError:
                self.p.poll(0.05)
        self.p.poll(0)
        self.pending.append(sent)
        return sent

    def flush(self, timeout=60):
        left = self.p.flush(timeout)
        assert left == 0, f"{left} message(s) not delivered to Kafka within {timeout} s"
        bad = [s for s in self.pending if s.error is not None]
        assert not bad, f"{len(bad)} message(s) not delivered: {bad[0].error}"
        done, self.pending = self.pending, []
        return done


# ---------------------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------------------

class Db:
    """An autocommit PostgreSQL session."""

    def __init__(self, url=DATABASE_URL):
        import psycopg
        self.conn = psycopg.connect(url, autocommit=True, connect_timeout=10)

    def all(self, sql, params=None):
        with self.conn.cursor() as cur:
            cur.execute(sql, params)
            if not cur.description:
                return []
            names = [d.name for d in cur.description]
            return [dict(zip(names, r)) for r in cur.fetchall()]

    def close(self):
        self.conn.close()


def wait_consumed(db, group, sent, timeout=120):
    """Waits until the group's offsets stored in PostgreSQL (committed with the effects)
    are past every message of sent."""
    need = {}
    for s in sent:
        need[s.partition] = max(need.get(s.partition, 0), s.offset + 1)
    if not need:
        return

    def done():
        have = {r["partition"]: r["next_offset"] for r in db.all(
            "SELECT partition, next_offset FROM consumer_offsets "
            "WHERE group_id = %s AND topic = %s", (group, TOPIC))}
        return all(have.get(p, 0) >= o for p, o in need.items())
    wait_until(done, timeout, f"group {group} to consume past {need}")


# outcomes() of an event that was dead-lettered and still left in applied_events (G2 keeps
# what was applied, not what was refused)
DEAD_YET_APPLIED = "yet recorded in applied_events"


def outcomes(db, sent):
    """{(partition, offset): None when applied, else the dead letter's reason} of sent."""
    if not sent:
        return {}
    keys = [[s.partition, s.offset] for s in sent]
    dead = {(r["partition"], r["offset"]): r["reason"] for r in db.all(
        'SELECT partition, "offset", reason FROM dead_letters_v WHERE topic = %s AND '
        '(partition, "offset") IN (SELECT (k->>0)::int, (k->>1)::bigint '
        'FROM jsonb_array_elements(%s::jsonb) k)', (TOPIC, json.dumps(keys)))}
    applied = {(r["source"], r["id"]) for r in db.all(
        "SELECT source, id FROM applied_events WHERE (source, id) IN "
        "(SELECT k->>0, k->>1 FROM jsonb_array_elements(%s::jsonb) k)",
        (json.dumps([[s.event["source"], s.event["id"]] for s in sent]),))}
    out = {}
    for s in sent:
        k = (s.partition, s.offset)
        if k in dead and (s.event["source"], s.event["id"]) in applied:
            out[k] = f"dead-lettered ({dead[k]}) {DEAD_YET_APPLIED}"
        elif k in dead:
            out[k] = dead[k]
        elif (s.event["source"], s.event["id"]) in applied:
            out[k] = None
        else:
            out[k] = "neither applied nor dead-lettered"
    return out


def _plain(v):
    if isinstance(v, decimal.Decimal):
        return str(v)
    if isinstance(v, datetime.date) and not isinstance(v, datetime.datetime):
        return v.isoformat()
    return v


def read_state(db, like):
    """What the rules left for ids starting with `like` (a run's or a row's prefix), per
    id prefix as given by split(id) — {prefix: {"notes": {order_id: [...]}, "tasks": ...,
    "orders": {order_id: {...}}, "ledger": [...], "refunds": [...]}} — read from the
    views only."""
    pat = like.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    state = {}

    def part(key):
        return state.setdefault(row_prefix(key, like), {"notes": {}, "tasks": {}, "orders": {},
                                                        "ledger": [], "refunds": []})
    for r in db.all("SELECT order_id, seq, code, author, noted_at, rendered, rendered_hans, "
                    "rendered_en, template, params FROM order_notes_v WHERE order_id LIKE %s "
                    "ORDER BY order_id, seq", (pat,)):
        part(r["order_id"])["notes"].setdefault(r["order_id"], []).append(r)
    for r in db.all("SELECT task_id, order_id, kind, assignee, status, created_at, closed_at, "
                    "closed_by, detail FROM tasks_v WHERE order_id LIKE %s ORDER BY task_id",
                    (pat,)):
        part(r["order_id"])["tasks"].setdefault(r["order_id"], []).append(r)
    for r in db.all("SELECT * FROM orders_v WHERE order_id LIKE %s ORDER BY order_id", (pat,)):
        part(r["order_id"])["orders"][r["order_id"]] = {k: _plain(v) for k, v in r.items()}
    for r in db.all("SELECT buyer_id, delta, balance_after, order_id, at, entry_id, kind, staff, "
                    "reason FROM balance_ledger_v WHERE buyer_id LIKE %s ORDER BY entry_id",
                    (pat,)):
        part(r["buyer_id"])["ledger"].append({k: _plain(v) for k, v in r.items()})
    for r in db.all("SELECT order_id, buyer_id, channel, account_masked, amount, reason, staff, "
                    "registered_at, reg_id, real_name_masked, reply FROM refund_registrations_v "
                    "WHERE order_id LIKE %s ORDER BY reg_id", (pat,)):
        part(r["order_id"])["refunds"].append({k: _plain(v) for k, v in r.items()})
    return state


def row_prefix(key, like):
    """The row prefix of an id: like + the next '-'-terminated part ("rpX-012-A" -> "rpX-012-")."""
    rest = key[len(like):]
    return like + rest.split("-", 1)[0] + "-" if "-" in rest else like


def empty_state():
    return {"notes": {}, "tasks": {}, "orders": {}, "ledger": [], "refunds": []}


# ---------------------------------------------------------------------------------------
# comparing with a row's "expect" (the same checks as tests/unit/test_rules.c)
# ---------------------------------------------------------------------------------------

def _as_instant(v):
    if isinstance(v, datetime.datetime):
        return v
    if isinstance(v, str):
        try:
            return datetime.datetime.fromisoformat(v.replace("Z", "+00:00"))
        except ValueError:
            return v
    return v


def _same(field, got, want):
    if want is None:
        return got is None
    if field in TIME_FIELDS:
        return _as_instant(got) == _as_instant(want)
    return got == want


def check_fields(what, got, want, prefix, fails, skip=(), mapping=None):
    mapping = mapping or {}
    for k, w in want.items():
        if k in skip or w == "*":
            continue
        gk = mapping.get(k, k)
        if gk == "order_id" and isinstance(w, str):
            w = prefix + w
        elif isinstance(w, str) and w.startswith("@"):
            w = prefix + w[1:]
        g = got.get(gk) if isinstance(got, dict) else None
        if not _same(k, g, w):
            fails.append(f"{what}.{k}: got {g!r}, want {w!r}")


def _short(rows, fields):
    return [{f: r.get(f) for f in fields} for r in rows]


def check_lists(what, got_map, want_map, prefix, fails, fields):
    for alias, want in want_map.items():
        got = got_map.get(prefix + alias, [])
        if len(got) != len(want):
            fails.append(f"{what} of {alias}: {len(got)}, want {len(want)}: "
                         f"{_short(got, fields)}")
            continue
        for i, (g, w) in enumerate(zip(got, want)):
            check_fields(f"{what}[{alias}][{i}]", g, w, prefix, fails)
    for oid, got in got_map.items():
        alias = oid[len(prefix):] if oid.startswith(prefix) else oid
        if got and alias not in want_map:
            fails.append(f"unexpected {what} on {alias}: {_short(got, fields)}")


def check_rows(what, got, want, prefix, fails, skip=(), mapping=None):
    if len(got) != len(want):
        fails.append(f"{what}: {len(got)} rows, want {len(want)}: {got}")
        return
    for i, (g, w) in enumerate(zip(got, want)):
        check_fields(f"{what}[{i}]", g, w, prefix, fails, skip, mapping)


def check_expect(expect, state, prefix):
    """Failures (strings) of a row's or story's state against an "expect" object (notes,
    tasks, orders, ledger, refunds; accepted/reason are checked by the caller)."""
    fails = []
    check_lists("notes", state["notes"], expect.get("notes", {}), prefix, fails,
                ("code", "author", "rendered"))
    check_lists("tasks", state["tasks"], expect.get("tasks", {}), prefix, fails,
                ("kind", "assignee", "status"))
    for alias, fields in expect.get("orders", {}).items():
        o = state["orders"].get(prefix + alias)
        if o is None:
            fails.append(f"order {alias} does not exist")
            continue
        check_fields(f"orders[{alias}]", o, fields, prefix, fails)
    m = {"buyer": "buyer_id", "order": "order_id"}
    check_rows("ledger", state["ledger"], expect.get("ledger", []), prefix, fails, (), m)
    # the view masks the account and the real name: the raw ones are checked in memory
    check_rows("refunds", state["refunds"], expect.get("refunds", []), prefix, fails,
               ("account", "real_name"), m)
    return fails


# ---------------------------------------------------------------------------------------
# order-worker
# ---------------------------------------------------------------------------------------

class Worker:
    """One orderflow-order-worker process in a consumer group of its own."""

    def __init__(self, name, group=None, **extra):
        self.group = group or f"rules-{name}-{uuid.uuid4().hex[:8]}"
        self.port = free_port()
        os.makedirs(os.path.join(ARTIFACTS, name), exist_ok=True)
        self.log_path = os.path.join(ARTIFACTS, name, "worker.log")
        # only the worker's settings: another KAFKA_* variable (the stack's KAFKA_PORT, say)
        # would be handed to librdkafka as a property
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("KAFKA_")}
        self.env.update({"DATABASE_URL": DATABASE_URL, "KAFKA_BOOTSTRAP": KAFKA_BOOTSTRAP,
                         "KAFKA_GROUP_ID": self.group, "HTTP_PORT": str(self.port),
                         "LOG_LEVEL": "info", "SHOP_TZ": "Asia/Shanghai"})
        self.env.update({k: str(v) for k, v in extra.items()})
        self.proc = None

    def start(self, timeout=60):
        assert os.access(WORKER_BIN, os.X_OK), \
            f"{WORKER_BIN} is not built (cmake --build; ORDERFLOW_BUILD_DIR={BUILD_DIR})"
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([WORKER_BIN], env=self.env, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log, start_new_session=True)

        def ready():
            assert self.proc.poll() is None, \
                f"order-worker exited with {self.proc.returncode}; log: {self.log_path}"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz",
                                            timeout=2) as r:
                    return r.status == 200
            except (urllib.error.URLError, OSError):
                return False
        wait_until(ready, timeout, f"order-worker /readyz on port {self.port}", 0.1)
        return self

    def stop(self, timeout=60):
        """SIGTERM; returns the exit code (0 expected: batch finished, committed)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)
                raise AssertionError(f"order-worker ignored SIGTERM for {timeout} s; killed")
        return self.proc.returncode

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)

    def log_tail(self, n=30):
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return "\n".join(f.read().splitlines()[-n:])
        except OSError:
            return ""

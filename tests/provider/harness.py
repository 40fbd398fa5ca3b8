"""harness.py — what the recharge integration tests (tests/integration/test_recharge*.py)
and the recharge benchmark share: the test provider and webhook receiver as processes
(provider.py, webhook.py beside this file), recharge-worker processes, and recharge
events. No mocks: real processes, real PostgreSQL and Kafka.

The pytest fixtures at the end are imported by the test modules (`from harness import
...`); they use the suite's conftest fixtures (db, publisher, ids)."""
import datetime
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
BUILD_DIR = os.path.join(REPO, os.environ.get("ORDERFLOW_BUILD_DIR", "build"))
RECHARGE_BIN = os.path.join(BUILD_DIR, "services", "recharge-worker", "orderflow-recharge-worker")
ARTIFACTS = os.environ.get("ORDERFLOW_ARTIFACTS",
                           os.path.join(REPO, "tests", "artifacts", "integration"))
TOPIC_RECHARGES = "shop.recharges"
TOPIC_ALERTS = "ops.alerts"


_PORTS_GIVEN = set()


def free_port():
    """A loopback port nothing listens on, and never one this process handed out before:
    the kernel may offer a port again as soon as its probe socket closes, and a process
    given two ports (the dashboard's UI and its health endpoint) then got the same one
    twice."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _PORTS_GIVEN:
            _PORTS_GIVEN.add(port)
            return port


def wait_for(pred, timeout, what, interval=0.05):
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = pred()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what} "
                                 f"(last value: {last!r})")
        time.sleep(interval)


def http(port, method, path, body=None, timeout=5):
    """(status, parsed JSON or text) of a call to 127.0.0.1:port; (None, error) when down."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method,
                                 headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read().decode()
            status = r.status
    except urllib.error.HTTPError as e:
        raw, status = e.read().decode(), e.code
    except OSError as e:
        return None, str(e)
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw


def rfc3339(t=None):
    t = time.time() if t is None else t
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).isoformat(
        timespec="milliseconds").replace("+00:00", "Z")


# ---------------------------------------------------------------------------------------
# processes
# ---------------------------------------------------------------------------------------

class LogFile:
    """Reading the log a process writes to self.log_path (order-worker's Worker in
    conftest.py reads its log the same way)."""

    def log_text(self):
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def run_text(self):
        """The log since the process was last started (the file is appended to: by every
        start, and by earlier runs of the same test)."""
        return self.log_text().rsplit("--- start", 1)[-1]

    def log_lines(self):
        """The JSON log lines (of every start of the process)."""
        out = []
        for line in self.log_text().splitlines():
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
        return out

    def log_tail(self, n=40):
        return "\n".join(self.log_text().splitlines()[-n:])


class Proc(LogFile):
    """A child process in a session of its own, its output in a log file."""

    def __init__(self, argv, log_path, env=None, name="process"):
        self.argv, self.log_path, self.env, self.name = argv, log_path, env, name
        self.proc = None

    def start(self):
        with open(self.log_path, "ab") as log:
            log.write(f"--- start {' '.join(self.argv)}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(self.argv, env=self.env, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log, start_new_session=True)
        return self

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        if self.alive():
            os.kill(self.proc.pid, sig)

    def kill(self):
        if self.alive():
            self.proc.send_signal(signal.SIGCONT)  # a stopped process must die too
            self.proc.kill()
            self.proc.wait(30)

    def stop(self, timeout=60):
        if not self.alive():
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGCONT)
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"{self.name} did not exit within {timeout} s of SIGTERM "
                                 f"(log {self.log_path})")



class ProviderProc(Proc):
    """The test provider (provider.py)."""

    def __init__(self, log_path, port=None, default=None):
        self.port = port or free_port()
        super().__init__([sys.executable, os.path.join(HERE, "provider.py"), "--port",
                          str(self.port), "--default", json.dumps(default or {})],
                         log_path, name="provider")

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        super().start()
        wait_for(lambda: http(self.port, "GET", "/health")[0] == 200, 20, "the test provider")
        return self

    def configure(self, default=None, accounts=None):
        st, body = http(self.port, "POST", "/config",
                        {"default": default or {}, "accounts": accounts or {}})
        assert st == 200, f"provider /config: {st} {body}"

    def stats(self, prefix):
        st, body = http(self.port, "GET", f"/stats?prefix={urllib.request.quote(prefix)}",
                        timeout=30)
        assert st == 200, f"provider /stats: {st} {body}"
        return body

    def calls(self, prefix):
        st, body = http(self.port, "GET", f"/calls?prefix={urllib.request.quote(prefix)}",
                        timeout=30)
        assert st == 200, f"provider /calls: {st} {body}"
        return body


class WebhookProc(Proc):
    """The webhook receiver (webhook.py); restart() brings it back on the same port."""

    def __init__(self, log_path, port=None):
        self.port = port or free_port()
        super().__init__([sys.executable, os.path.join(HERE, "webhook.py"), "--port",
                          str(self.port)], log_path, name="webhook receiver")

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/ops"

    def start(self):
        super().start()
        wait_for(lambda: http(self.port, "GET", "/health")[0] == 200, 20, "the webhook receiver")
        return self

    def mode(self, status):
        assert http(self.port, "POST", "/_mode", {"status": status})[0] == 200

    def received(self, subject=None):
        path = "/received" + (f"?subject={urllib.request.quote(subject)}" if subject else "")
        st, body = http(self.port, "GET", path)
        return body if st == 200 else []


def worker_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "RECHARGE_"))}
    env.update({"DATABASE_URL": os.environ["DATABASE_URL"],
                "KAFKA_BOOTSTRAP": os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092"),
                "LOG_LEVEL": "info"})
    env.update({k: str(v) for k, v in extra.items()})
    return env


class RechargeWorker(Proc):
    """One orderflow-recharge-worker process (consumer loop + desk)."""

    def __init__(self, log_path, name, group, provider_url, webhook_url="", **extra):
        self.port = free_port()
        self.processor = name
        self.group = group
        env = worker_env(KAFKA_GROUP_ID=group, HTTP_PORT=self.port,
                         RECHARGE_PROVIDER_URL=provider_url, OPS_WEBHOOK_URL=webhook_url,
                         RECHARGE_PROCESSOR_NAME=name, **extra)
        super().__init__([RECHARGE_BIN], log_path, env, name=f"recharge-worker {name}")

    def start(self):
        assert os.access(RECHARGE_BIN, os.X_OK), f"{RECHARGE_BIN} is not built"
        return super().start()

    def wait_ready(self, timeout=60):
        def ready():
            assert self.alive(), (f"{self.name} exited with {self.proc.returncode}; log "
                                  f"{self.log_path}\n{self.log_tail()}")
            return http(self.port, "GET", "/readyz")[0] == 200
        wait_for(ready, timeout, f"{self.name} /readyz", interval=0.2)
        return self

    def metrics_text(self):
        st, body = http(self.port, "GET", "/metrics")
        return body if st == 200 else ""

    def metric(self, name, labels=None):
        total = 0.0
        for m in re.finditer(rf"^{re.escape(name)}(\{{[^}}]*\}})? (\S+)$", self.metrics_text(),
                             re.M):
            if labels is None or all(f'{k}="{v}"' in (m.group(1) or "")
                                     for k, v in labels.items()):
                total += float(m.group(2))
        return total


# ---------------------------------------------------------------------------------------
# events
# ---------------------------------------------------------------------------------------

def requested(ids, order_id, account, *, product="mobile-50", face_value="50.00",
              amount="49.50", time_=None, event_id=None):
    return {"specversion": "1.0", "id": event_id or f"{order_id}-requested",
            "source": ids.source, "type": "recharge.requested", "time": time_ or rfc3339(),
            "subject": order_id, "datacontenttype": "application/json",
            "data": {"order_id": order_id, "shop_id": ids.shop, "account": account,
                     "product": product, "face_value": face_value, "amount": amount}}


def result(ids, order_id, attempt_id, status, *, provider_ref=None, time_=None, event_id=None):
    data = {"order_id": order_id, "attempt_id": attempt_id, "status": status}
    if provider_ref:
        data["provider_ref"] = provider_ref
    return {"specversion": "1.0", "id": event_id or f"{attempt_id}-result-{status}",
            "source": ids.source, "type": "recharge.result", "time": time_ or rfc3339(),
            "subject": order_id, "datacontenttype": "application/json", "data": data}


def publish(publisher, events):
    for ev in events:
        publisher.structured(ev, topic=TOPIC_RECHARGES)
    return publisher.flush()


def end_offsets(topic):
    """{partition: high watermark} of a topic now."""
    import confluent_kafka
    c = confluent_kafka.Consumer({"bootstrap.servers": os.environ.get("KAFKA_BOOTSTRAP",
                                                                      "127.0.0.1:9092"),
                                  "group.id": f"harness-{os.getpid()}"})
    try:
        md = c.list_topics(topic, timeout=10)
        return {p: c.get_watermark_offsets(confluent_kafka.TopicPartition(topic, p),
                                           timeout=10)[1]
                for p in md.topics[topic].partitions}
    finally:
        c.close()


def start_group_at_end(db, group, topic=TOPIC_RECHARGES):
    """Makes a new consumer group start at the topic's current end: the offsets the consumer
    loop resumes from are those stored in PostgreSQL. So a test's workers read only the
    events published after this call, not everything earlier tests published."""
    for p, off in end_offsets(topic).items():
        db.all("INSERT INTO consumer_offsets (group_id, topic, partition, next_offset) "
               "VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING", (group, topic, p, off))


# ---------------------------------------------------------------------------------------
# database helpers
# ---------------------------------------------------------------------------------------

def states(db, prefix):
    """{order_id: state} of the recharges whose id starts with prefix."""
    return dict(db.all("SELECT order_id, state FROM recharges WHERE order_id LIKE %s",
                       (prefix + "%",)))


def wait_states(db, orders, want, timeout, what=None):
    """Waits until every order of `orders` is in a state of `want` (a set)."""
    orders = list(orders)

    def check():
        rows = dict(db.all("SELECT order_id, state FROM recharges WHERE order_id = ANY(%s)",
                           (orders,)))
        bad = {o: rows.get(o) for o in orders if rows.get(o) not in want}
        return True if not bad else None

    try:
        return wait_for(check, timeout, what or f"{len(orders)} order(s) to be {want}", 0.1)
    except AssertionError:
        rows = dict(db.all("SELECT order_id, state FROM recharges WHERE order_id = ANY(%s)",
                           (orders,)))
        bad = {o: rows.get(o) for o in orders if rows.get(o) not in want}
        raise AssertionError(f"timed out after {timeout} s waiting for {what or want}: "
                             f"{len(bad)} not there, e.g. {list(bad.items())[:5]}")


# ---------------------------------------------------------------------------------------
# pytest fixtures (imported by the test modules)
# ---------------------------------------------------------------------------------------

try:
    import pytest
except ImportError:  # the benchmark imports this module without pytest
    pytest = None

if pytest is not None:
    def _test_dir(request):
        d = os.path.join(ARTIFACTS, re.sub(r"[^A-Za-z0-9_.-]", "_", request.node.name))
        os.makedirs(d, exist_ok=True)
        return d

    @pytest.fixture(scope="module")
    def provider(request):
        d = os.path.join(ARTIFACTS, re.sub(r"[^A-Za-z0-9_.-]", "_", request.module.__name__))
        os.makedirs(d, exist_ok=True)
        p = ProviderProc(os.path.join(d, "provider.log")).start()
        yield p
        p.kill()

    @pytest.fixture
    def webhook(request):
        w = WebhookProc(os.path.join(_test_dir(request), "webhook.log")).start()
        yield w
        w.kill()

    @pytest.fixture
    def rworkers(request, ids, provider, db):
        """Factory of recharge-worker processes: rworkers.start(name, **env) starts one
        (and waits for /readyz). All of a test's workers share one consumer group unless
        group= is given; a group starts at the end of shop.recharges. Killed at the end of
        the test; logs printed on failure."""
        made = []
        groups = set()
        test_dir = _test_dir(request)

        class Factory:
            group = f"it-rc-{ids.run}"

            def new(self, name=None, group=None, webhook_url="", **extra):
                if (group or self.group) not in groups:
                    groups.add(group or self.group)
                    start_group_at_end(db, group or self.group)
                n = len(made) + 1
                name = name or f"{ids.prefix}-p{n}"
                extra.setdefault("RECHARGE_IDLE_POLL_MS", 100)
                w = RechargeWorker(os.path.join(test_dir, f"{name}.log"), name,
                                   group or self.group, provider.url, webhook_url, **extra)
                made.append(w)
                return w

            def start(self, name=None, **kw):
                return self.new(name, **kw).start().wait_ready()

        yield Factory()
        for w in made:
            w.kill()
        rep = getattr(request.node, "rep_call", None)
        if rep is not None and rep.failed:
            for w in made:
                print(f"\n----- {w.log_path} (last lines) -----\n{w.log_tail()}")

"""Helpers of the dashboard API tests (test_dashboard_api.py, test_dashboard_openapi.py):
the built dashboard as a subprocess against the test stack (DATABASE_URL, KAFKA_BOOTSTRAP),
with the order-worker and remittance-worker that judge the events its actions publish;
dashboard users made with `orderflow-admin user NAME ROLE` (password on stdin); a logged-in
client (urllib, like conftest.py) that sends the session cookie and the CSRF token; the
route table of services/dashboard/routes.c and the paths of services/dashboard/openapi.yaml, parsed.

Every test uses names and ids of its own (a run prefix), so it can share the stack.
"""
import json
import os
import re
import subprocess
import time
import uuid

import pytest

from conftest import (BUILD_DIR, DATABASE_URL, KAFKA_BOOTSTRAP, REPO, start_group_at_end,
                      wait_until, worker_env)

ROUTES_C = os.path.join(REPO, "services", "dashboard", "routes.c")
OPENAPI = os.path.join(REPO, "services", "dashboard", "openapi.yaml")
ADMIN_BIN = os.path.join(BUILD_DIR, "services", "admin", "orderflow-admin")

ROLES = ("staff", "assistant", "supervisor", "operations")
ROLE_BITS = {"DASH_STAFF": {"staff"}, "DASH_ASSISTANT": {"assistant"},
             "DASH_SUPERVISOR": {"supervisor"}, "DASH_OPERATIONS": {"operations"},
             "DASH_ANY_ROLE": set(ROLES)}


# ---------------------------------------------------------------------------------------
# the route table and the OpenAPI document
# ---------------------------------------------------------------------------------------

def routes_from_c(path=ROUTES_C):
    """[(method, pattern, roles (set), flags (set))] of the route table in routes.c."""
    with open(path, encoding="utf-8") as f:
        src = re.sub(r"/\*.*?\*/", "", f.read(), flags=re.S)
    table = src[src.index("dash_routes[]"):]
    out = []
    for m in re.finditer(r'\{\s*"([A-Z]+)"\s*,\s*"([^"]+)"\s*,\s*(\w+)\s*,\s*([^,]+?)\s*,'
                         r'\s*([^}]+?)\s*\}', table):
        method, pattern, _handler, roles, flags = m.groups()
        rset = set()
        for tok in re.split(r"\s*\|\s*", roles.strip()):
            if tok != "0":
                assert tok in ROLE_BITS, f"unknown role token {tok!r} in routes.c"
                rset |= ROLE_BITS[tok]
        fset = {t for t in re.split(r"\s*\|\s*", flags.strip()) if t != "0"}
        out.append((method, pattern, rset, fset))
    assert out, "no routes found in routes.c"
    return out


def openapi_doc(path=OPENAPI):
    import yaml
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def openapi_routes(doc):
    """{(METHOD, "/api/v1/…"): operation} of the document (server URL /api/v1 + path)."""
    base = ""
    for s in doc.get("servers") or []:
        base = s["url"].rstrip("/")
        break
    out = {}
    for p, item in doc["paths"].items():
        for method, op in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                out[(method.upper(), base + p)] = op
    return out


def normalize(pattern):
    """/a/{x}/b and /a/{y}/b are the same route."""
    return re.sub(r"\{[^}]+\}", "{}", pattern)


# ---------------------------------------------------------------------------------------
# users
# ---------------------------------------------------------------------------------------

def admin_env():
    env = worker_env("admin", 0)
    env.pop("ORDERFLOW_PASSWORD", None)
    return env


def make_user(name, role, password=None, queues=None):
    """Creates (or updates) a dashboard user with orderflow-admin; returns the password."""
    assert os.access(ADMIN_BIN, os.X_OK), f"{ADMIN_BIN} is not built"
    password = password or f"pw-{uuid.uuid4().hex[:12]}"
    args = [ADMIN_BIN, "user", name, role]
    if queues is not None:
        args += ["--queues", queues]
    r = subprocess.run(args, input=(password + "\n").encode(), env=admin_env(),
                       capture_output=True, timeout=60)
    assert r.returncode == 0, (f"orderflow-admin user {name} {role} exited {r.returncode}: "
                               f"{r.stderr.decode(errors='replace')}")
    return password


def admin(*args, check=True):
    r = subprocess.run([ADMIN_BIN, *args], env=admin_env(), capture_output=True, timeout=120)
    if check:
        assert r.returncode == 0, (f"orderflow-admin {' '.join(args)} exited {r.returncode}: "
                                   f"{r.stderr.decode(errors='replace')}")
    return r


# ---------------------------------------------------------------------------------------
# the client
# ---------------------------------------------------------------------------------------

class Resp:
    """An HTTP answer: status_code, headers, content (bytes), text, json()."""

    def __init__(self, status, headers, content):
        self.status_code, self.headers, self.content = status, headers, content

    @property
    def text(self):
        return self.content.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.content)


class Client:
    """One browser (urllib, as conftest.py): a cookie jar for the of_session cookie and the
    CSRF token it got at login. post(..., csrf=False) leaves the header out, csrf="…" sends
    that value."""

    def __init__(self, base, name=None, password=None, role=None):
        import http.cookiejar
        import urllib.request
        self.base = base
        self.name, self.password, self.role = name, password, role
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self.csrf = None
        self.user = None

    def _send(self, method, path, params=None, data=None, headers=None, timeout=60):
        import urllib.error
        import urllib.parse
        import urllib.request
        url = self.base + urllib.parse.quote(path, safe="/-_.~")
        if params:
            url += "?" + urllib.parse.urlencode(params)
        req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
        try:
            with self.opener.open(req, timeout=timeout) as r:
                return Resp(r.status, r.headers, r.read())
        except urllib.error.HTTPError as e:
            return Resp(e.code, e.headers, e.read())

    def login(self, expect=200):
        r = self.post("/api/v1/login", {"name": self.name, "password": self.password},
                      csrf=False)
        assert r.status_code == expect, f"login of {self.name}: {r.status_code} {r.text}"
        if r.status_code == 200:
            body = r.json()
            self.csrf = body["csrf_token"]
            self.user = body["user"]
        return self

    def get(self, path, params=None, timeout=60):
        return self._send("GET", path, params, timeout=timeout)

    def post(self, path, body=None, csrf=True, headers=None, raw=None, timeout=60):
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        if csrf is True and self.csrf:
            h["X-CSRF-Token"] = self.csrf
        elif isinstance(csrf, str):
            h["X-CSRF-Token"] = csrf
        data = raw if raw is not None else \
            json.dumps(body if body is not None else {}, ensure_ascii=False).encode()
        return self._send("POST", path, data=data, headers=h, timeout=timeout)

    def ok(self, path, params=None):
        r = self.get(path, params)
        assert r.status_code == 200, f"GET {path} {params}: {r.status_code} {r.text[:500]}"
        return r.json()

    def walk(self, path, params, limit):
        """Every page of a list: [(items of a page), …] following next_cursor."""
        pages, cursor = [], None
        for _ in range(1000):
            p = dict(params, limit=limit)
            if cursor:
                p["cursor"] = cursor
            body = self.ok(path, p)
            assert len(body["items"]) <= limit
            pages.append(body["items"])
            cursor = body["next_cursor"]
            if cursor is None:
                return pages
        raise AssertionError(f"{path}: more than 1000 pages")


def error_message(r):
    try:
        return r.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        return r.text


# ---------------------------------------------------------------------------------------
# the dashboard process and its workers
# ---------------------------------------------------------------------------------------

class Dashboard:
    """A started orderflow-dashboard (a remit_lib Service) and its base URL."""

    def __init__(self, service, port):
        self.service = service
        self.port = port
        self.base = f"http://127.0.0.1:{port}"

    def client(self, name=None, password=None, role=None):
        return Client(self.base, name, password, role)

    def check_running(self, when=""):
        self.service.check_running(when)


def start_dashboard(services, **extra):
    """A dashboard on free ports (DASHBOARD_PORT, and HTTP_PORT for /readyz)."""
    from conftest import free_port
    port = free_port()
    extra.setdefault("DASHBOARD_ACTION_WAIT_MS", 15000)
    svc = services.new("dashboard", DASHBOARD_PORT=port, **extra)
    svc.start().wait_ready()
    dash = Dashboard(svc, port)

    def answers():
        try:
            return dash.client().get("/api/v1/me", timeout=2).status_code == 401
        except OSError:
            return False
    wait_until(answers, 30, f"the dashboard on port {port}")
    return dash


def start_worker_at_end(services, db, name, topic):
    """order-worker / remittance-worker in a group of its own that starts at the end of its
    topic (so it does not replay what earlier tests published)."""
    g = f"{services.tag}-{name}"
    start_group_at_end(db, g, topic)
    return services.new(name, group=g).start().wait_ready()


class Users:
    """Dashboard users of one module: one per role (name prefix + role), made on demand."""

    def __init__(self, dash, run):
        self.dash, self.run = dash, run
        self._made = {}

    def make(self, key, role, queues=None):
        """A logged-in client for the user <key><run> with the role (made once)."""
        if key not in self._made:
            name = f"{key}{self.run}"
            pw = make_user(name, role, queues=queues)
            self._made[key] = self.dash.client(name, pw, role).login()
        return self._made[key]

    def of_role(self, role):
        return self.make({"staff": "客服", "assistant": "助理", "supervisor": "主管",
                          "operations": "運維"}[role], role)


@pytest.fixture(scope="module")
def dash_stack(request, db):
    """One dashboard, one order-worker and one remittance-worker for the module, and its
    users (stack.users.of_role(role) → a logged-in client)."""
    if not DATABASE_URL:
        pytest.skip("DATABASE_URL is not set")
    from remit_lib import Services
    svc = Services(request.module.__name__)
    stack = type("DashStack", (), {})()
    stack.services = svc
    stack.run = uuid.uuid4().hex[:6]
    try:
        stack.orders = start_worker_at_end(svc, db, "order-worker", "shop.orders")
        stack.remittances = start_worker_at_end(svc, db, "remittance-worker", "shop.remittances")
        stack.dash = start_dashboard(svc)
    except BaseException:
        svc.close(failed=True)
        raise
    stack.running = (stack.orders, stack.remittances, stack.dash.service)
    stack.users = Users(stack.dash, stack.run)
    yield stack
    svc.close(failed=request.session.testsfailed > 0)


def kafka_bootstrap():
    return KAFKA_BOOTSTRAP


def now_ms():
    return int(time.time() * 1000)


def as_json(x):
    return json.dumps(x, ensure_ascii=False, sort_keys=True)

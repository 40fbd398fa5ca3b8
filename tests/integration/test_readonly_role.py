"""The read-only role for Grafana or Metabase (issue 6, item 4): orderflow_readonly, created
by the migrations, can SELECT the SPEC §6 views and nothing else — no table, no other view,
no write, and no lease function (they write as their caller)."""
import uuid

import pytest

from conftest import DATABASE_URL

if DATABASE_URL:
    import psycopg
    from psycopg import conninfo

SPEC_VIEWS = ["order_notes_v", "orders_v", "tasks_v", "recharges_v", "breaches_v", "alerts_v",
              "remittances_v", "remittance_daily_v", "refund_registrations_v",
              "balance_ledger_v", "recharge_daily_v", "dead_letters_v"]
# tables and views outside the contract, personal data and secrets among them
NOT_GRANTED = ["orders", "order_notes", "refund_registrations", "recharges", "dead_letters",
               "dashboard_users", "dashboard_sessions", "audit_log", "audit_log_v",
               "processors_v", "recharge_attempts_v", "staff", "consumer_offsets",
               "applied_events", "recharge_settings"]


@pytest.fixture
def reader(db):
    """A login role of the kind an operator creates for Grafana: IN ROLE orderflow_readonly."""
    name = "grafana_" + uuid.uuid4().hex[:8]
    password = uuid.uuid4().hex
    admin = psycopg.connect(DATABASE_URL, autocommit=True)
    # identifiers cannot be parameters: sql.Identifier quotes them
    from psycopg import sql
    admin.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} IN ROLE orderflow_readonly").format(
        sql.Identifier(name), sql.Literal(password)))
    conn = psycopg.connect(conninfo.make_conninfo(DATABASE_URL, user=name, password=password),
                           autocommit=True)
    yield conn
    conn.close()
    admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))
    admin.close()


def denied(conn, statement):
    try:
        conn.execute(statement)
    except psycopg.errors.InsufficientPrivilege:
        return True
    return False


def test_readonly_role_reads_every_spec_view(reader):
    for view in SPEC_VIEWS:
        # every column of the view, so a function it calls (masking, the shop's time zone)
        # is exercised with the reader's rights too
        reader.execute(f"SELECT * FROM {view} LIMIT 5").fetchall()


def test_readonly_role_reads_nothing_else(reader):
    for relation in NOT_GRANTED:
        assert denied(reader, f"SELECT 1 FROM {relation} LIMIT 1"), relation


def test_readonly_role_writes_nothing(reader):
    assert denied(reader, "DELETE FROM dead_letters_v")
    assert denied(reader, "UPDATE orders_v SET closed = true")
    assert denied(reader, "INSERT INTO breaches_v (rule, subject_id, deadline) "
                          "VALUES ('T1', 'x', now())")
    # the lease functions run with their caller's rights: the reader cannot take an order
    assert denied(reader, "SELECT * FROM recharge_lock('grafana', 1, 10, 'UTC', 30)")
    assert denied(reader, "CREATE TABLE sneaky (x int)")

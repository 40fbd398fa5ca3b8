"""M1-M8, the remittance flow (匯款流程, SPEC §4.4), through the real pipeline: events
published to shop.orders and shop.remittances, applied by order-worker and
remittance-worker (one of each for the module), results read from the §6 views
(remittances_v, orders, order_notes_v, remittance_daily_v, remittance_unreviewed_days_v,
dead_letters_v) and from `orderflow-admin remittance-csv`. Rejections are asserted with
the reason a shop can act on. M3 (the deadline) is in test_sweeper.py."""
import contextlib
import csv
import datetime
import io
import os
import time

import psycopg
import pytest

from remit_lib import pipeline, rids  # noqa: F401 (fixtures)
from remit_lib import (M1_NOTE, add_staff, admin, ago, assert_applied, assert_rejected,
                       publish, wait_until,
                       free_day, items, notes, order_row, remittance, send, shop_date,
                       shop_time)

M5_NOTE = "重複拍下,已按匯款訂單{remit_id}處理,交易關閉+{staff}+{date}"


def _open_order(db, publisher, pipeline, rids, buyer, its, at=None, paid=False):
    o = rids.order()
    evs = [rids.created(o, buyer, its, at=at or ago(hours=3))]
    if paid:
        evs.append(rids.paid(o, at=ago(hours=2)))
    assert_applied(send(db, publisher, pipeline, *evs), *evs)
    return o


# ---------------------------------------------------------------------------------------
# M1 registration
# ---------------------------------------------------------------------------------------

def test_m1_placed_on_shop_closes_the_shop_order_with_the_m1_note(db, publisher, pipeline,
                                                                  rids):
    buyer, staff = rids.buyer(), rids.staff("小美")
    goods = items(("COAT-BLK", 1, "L"))
    o = _open_order(db, publisher, pipeline, rids, buyer, goods, at=ago(days=1, hours=5))
    r = rids.remit()
    at = ago(days=1, hours=2)  # yesterday or so: {date} is the event's shop day
    ev = rids.ordered(r, buyer, staff, goods, placed=True, shop_order_id=o, at=at,
                      address="廣東省廣州市天河區體育西路1號 李小姐 13900139000")
    assert_applied(send(db, publisher, pipeline, ev), ev)

    row = remittance(db, r)
    assert row["state"] == "ordered" and row["buyer_id"] == buyer and row["staff"] == staff
    assert row["placed_on_shop"] is True and row["shop_order_id"] == o
    assert row["items"] == goods and row["address"] == ev["data"]["address"]
    assert row["notified_at"] is None and row["verified_at"] is None
    assert str(row["day"]) == str(shop_date(at))

    order = order_row(db, o)
    assert order["closed"] is True, f"the shop order should be closed: {order}"
    assert order["close_reason"] == "bank_remittance"
    n = notes(db, o)
    want = M1_NOTE.format(staff=staff, date=shop_date(at).isoformat())
    assert n == [("M1", staff, want)], f"M1 note on {o}: {n}, want {want!r}"


def test_m1_not_placed_registers_only(db, publisher, pipeline, rids):
    buyer, staff = rids.buyer(), rids.staff("阿傑")
    other = _open_order(db, publisher, pipeline, rids, buyer, items(("HAT-01", 1)))
    r = rids.remit()
    goods = items(("DRESS-RED", 2, "S"), ("SCARF-01", 1))
    ev = rids.ordered(r, buyer, staff, goods, overseas=True,
                      address="香港九龍旺角彌敦道600號 李太 +852 91234567")
    assert_applied(send(db, publisher, pipeline, ev), ev)
    row = remittance(db, r)
    assert row["state"] == "ordered" and row["placed_on_shop"] is False
    assert row["shop_order_id"] is None and row["overseas"] is True and row["items"] == goods
    o = order_row(db, other)
    assert o["closed"] is False and notes(db, other) == [], "another order of the buyer changed"


def test_m1_rejections(db, publisher, pipeline, rids):
    buyer, staff = rids.buyer(), rids.staff()
    goods = items(("COAT-BLK", 1))
    paid = _open_order(db, publisher, pipeline, rids, buyer, goods, paid=True)
    theirs = _open_order(db, publisher, pipeline, rids, rids.buyer(), goods)
    dup = rids.remit()
    first = rids.ordered(dup, buyer, staff, items(("X-1", 1)))
    cases = {
        "paid shop order": rids.ordered(rids.remit(), buyer, staff, goods, placed=True,
                                        shop_order_id=paid),
        "another buyer's order": rids.ordered(rids.remit(), buyer, staff, goods, placed=True,
                                              shop_order_id=theirs),
        "unknown shop order": rids.ordered(rids.remit(), buyer, staff, goods, placed=True,
                                           shop_order_id=rids.order()),
        "placed without an order": rids.ordered(rids.remit(), buyer, staff, goods,
                                                placed=True),
        "registered twice": rids.ordered(dup, buyer, staff, items(("X-2", 3))),
    }
    out = send(db, publisher, pipeline, first, *cases.values())
    assert_applied(out, first)
    assert_rejected(out, cases["paid shop order"], "already paid", paid)
    assert_rejected(out, cases["another buyer's order"], "another buyer", theirs)
    assert_rejected(out, cases["unknown shop order"], "shop_order_id", "not a known shop order")
    assert_rejected(out, cases["placed without an order"], "shop_order_id", "required")
    assert_rejected(out, cases["registered twice"], "already registered", dup)
    # nothing of a rejected event is left behind
    for name, ev in cases.items():
        if name != "registered twice":
            assert remittance(db, ev["subject"]) is None, f"{name}: remittance registered"
    assert remittance(db, dup)["items"] == first["data"]["items"]
    for o in (paid, theirs):
        assert order_row(db, o)["closed"] is False and notes(db, o) == []
    assert order_row(db, paid)["state"] == "paid"


# ---------------------------------------------------------------------------------------
# M2 notice, M4 verification, M6 shipping
# ---------------------------------------------------------------------------------------

def test_m2_m4_m6_notice_verification_shipping(db, publisher, pipeline, rids):
    buyer, staff = rids.buyer(), rids.staff("小美")
    boss = add_staff(rids.staff("陳主管"), "supervisor")
    r = rids.remit()
    t0 = ago(days=2)
    ordered = rids.ordered(r, buyer, staff, items(("COAT-BLK", 1)), at=t0)
    notice = rids.notified(r, buyer, staff, "1299.50", at=ago(days=1, hours=20))
    notice["data"].update(method="網銀轉賬", bank="中國工商銀行")
    out = send(db, publisher, pipeline, ordered, notice)
    assert_applied(out, ordered, notice)
    row = remittance(db, r)
    assert row["state"] == "notified"
    assert row["amount"] == 1299.50 and row["method"] == "網銀轉賬" and row["bank"] == "中國工商銀行"
    assert str(row["remitted_on"]) == notice["data"]["remitted_on"]
    assert _ts(row["notified_at"]) == notice["time"]
    assert db.scalar("SELECT notified_by FROM remittances WHERE remit_id = %s", (r,)) == staff
    assert row["verified_at"] is None and row["buyer_told_at"] is None

    verify = rids.verified(r, boss, "1299.50", at=ago(days=1, hours=2))
    assert_applied(send(db, publisher, pipeline, verify), verify)
    row = remittance(db, r)
    assert row["state"] == "verified", "M4: verified → ready to ship"
    assert row["verified_by"] == boss
    assert _ts(row["verified_at"]) == verify["time"]
    assert row["buyer_told_at"] is not None and _ts(row["buyer_told_at"]) == verify["time"], \
        "M4: the buyer is told the money arrived"

    # the notice re-sent (same source and id): no second effect, no dead letter (G2)
    again = dict(notice)
    ship = rids.shipped(r, "倉管阿明", "SF1234567890", at=ago(hours=5))
    out = send(db, publisher, pipeline, again, ship)
    assert_applied(out, ship)
    assert out[notice["id"]] == ("applied", None)
    row = remittance(db, r)
    assert row["state"] == "shipped" and row["waybill_no"] == "SF1234567890"
    assert _ts(row["shipped_at"]) == ship["time"]
    assert row["verified_by"] == boss and row["amount"] == 1299.50
    assert db.scalar("SELECT count(*) FROM dead_letters_v WHERE event_source = %s",
                     (rids.source,)) == 0


def test_m2_m4_m6_rejections(db, publisher, pipeline, rids):
    buyer, staff = rids.buyer(), rids.staff()
    boss = add_staff(rids.staff("陳主管"), "supervisor")
    clerk = add_staff(rids.staff("小李"), "staff")
    r, r2 = rids.remit(), rids.remit()
    setup = [rids.ordered(r, buyer, staff, items(("A", 1))),
             rids.ordered(r2, buyer, staff, items(("B", 1)))]
    assert_applied(send(db, publisher, pipeline, *setup), *setup)

    early_verify = rids.verified(r, boss, "100.00")           # before any notice
    early_ship = rids.shipped(r2, "倉管")                      # before any verification
    unknown_notice = rids.notified(rids.remit(), buyer, staff, "100.00")
    notice = rids.notified(r, buyer, staff, "100.00")
    wrong_amount = rids.verified(r, boss, "100.01")
    by_clerk = rids.verified(r, clerk, "100.00")
    by_stranger = rids.verified(r, rids.staff("路人"), "100.00")
    good = rids.verified(r, boss, "100")  # the same amount spelled differently
    second = rids.verified(r, boss, "100.00")
    late_notice = rids.notified(r, buyer, staff, "150.00")
    out = send(db, publisher, pipeline, early_verify, early_ship, unknown_notice, notice,
               wrong_amount, by_clerk, by_stranger, good, second, late_notice)
    assert_applied(out, notice, good)
    assert_rejected(out, early_verify, "no notice")
    assert_rejected(out, early_ship, "not verified", r2)
    assert_rejected(out, unknown_notice, "unknown remittance", unknown_notice["subject"])
    assert_rejected(out, wrong_amount, "100.01", "100.00", "differs")
    assert_rejected(out, by_clerk, clerk, "not a supervisor")
    assert_rejected(out, by_stranger, "not on the staff roster", "not a supervisor")
    assert_rejected(out, second, "already verified")
    assert_rejected(out, late_notice, "already verified")
    row = remittance(db, r)
    assert row["state"] == "verified" and row["verified_by"] == boss
    assert row["amount"] == 100.00, "a rejected notice changed the amount"
    assert _ts(row["verified_at"]) == good["time"]
    assert remittance(db, r2)["state"] == "ordered"
    assert remittance(db, unknown_notice["subject"]) is None


# ---------------------------------------------------------------------------------------
# M5 duplicates
# ---------------------------------------------------------------------------------------

def test_m5_remittance_first_then_shop_order_is_closed(db, publisher, pipeline, rids):
    buyer, staff = rids.buyer(), rids.staff("阿傑")
    r = rids.remit()
    goods = items(("DRESS-RED", 2, "S"), ("SCARF-01", 1))
    ev = rids.ordered(r, buyer, staff, goods, at=ago(days=1))
    assert_applied(send(db, publisher, pipeline, ev), ev)

    # the same goods in another order of the array, then a second identical order
    o, o2 = rids.order(), rids.order()
    at = ago(hours=6)
    created = rids.created(o, buyer, list(reversed(goods)), at=at)
    created2 = rids.created(o2, buyer, goods, at=ago(hours=5))
    # one after the other: two orders' events may sit on two partitions
    assert_applied(send(db, publisher, pipeline, created), created)
    assert_applied(send(db, publisher, pipeline, created2), created2)
    row = order_row(db, o)
    assert row["closed"] is True and row["close_reason"] == "remittance_duplicate", row
    want = M5_NOTE.format(remit_id=r, staff=staff, date=shop_date(at).isoformat())
    assert notes(db, o) == [("M5", staff, want)]
    assert db.scalar("SELECT duplicate_order_id FROM remittances WHERE remit_id = %s",
                     (r,)) == o
    # one remittance closes one duplicate
    assert order_row(db, o2)["closed"] is False and notes(db, o2) == []


@contextlib.contextmanager
def _buyer_locked(db, buyer, mode):
    """Another session holds the buyer's balance row locked FOR <mode> until the block ends
    (FOR UPDATE is what remittance-worker takes, M5)."""
    db.all("INSERT INTO buyer_balances (buyer_id) VALUES (%s) ON CONFLICT DO NOTHING "
           "RETURNING buyer_id", (buyer,))
    with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
        conn.execute(f"SELECT 1 FROM buyer_balances WHERE buyer_id = %s FOR {mode}", (buyer,))
        try:
            yield
        finally:
            conn.rollback()


def _applied(db, ev):
    return db.scalar("SELECT count(*) FROM applied_events WHERE source = %s AND id = %s",
                     (ev["source"], ev["id"])) == 1


def test_m5_new_orders_only_see_their_buyer_unless_a_remittance_is_open(db, publisher,
                                                                       pipeline, rids):
    """order-worker locks a new order's buyer FOR KEY SHARE: other workers (and lanes) that
    only see the buyer do not wait for each other, remittance-worker's FOR UPDATE waits for
    them and they for it (M5: the order sees the remittance or is seen by it). A buyer with
    an open remittance is taken in turn (FOR NO KEY UPDATE): one order only may close as its
    duplicate."""
    buyer, staff = rids.buyer(), rids.staff("阿傑")
    goods = items(("SKIRT-01", 1, "M"))
    # seen only: a session sharing the row does not hold the order up
    free = rids.created(rids.order(), buyer, items(("HAT-01", 1)))
    with _buyer_locked(db, buyer, "SHARE"):
        publish(publisher, free)
        wait_until(lambda: _applied(db, free), 30, "order.created beside a shared buyer row",
                   interval=0.1)
    # remittance-worker's lock (FOR UPDATE): the order waits for it, then sees its remittance
    r = rids.remit()
    ev = rids.ordered(r, buyer, staff, goods)
    assert_applied(send(db, publisher, pipeline, ev), ev)
    o = rids.order()
    dup = rids.created(o, buyer, goods)
    with _buyer_locked(db, buyer, "UPDATE"):
        publish(publisher, dup)
        time.sleep(2)
        assert not _applied(db, dup), "order.created did not wait for the buyer's FOR UPDATE"
    wait_until(lambda: _applied(db, dup), 30, "order.created once the buyer is free",
               interval=0.1)
    assert order_row(db, o)["close_reason"] == "remittance_duplicate"
    # an open remittance of the buyer: the new order takes the buyer in turn, so a shared
    # row (another's turn) holds it up
    r2 = rids.remit()
    ev = rids.ordered(r2, buyer, staff, goods)
    assert_applied(send(db, publisher, pipeline, ev), ev)
    o2 = rids.order()
    dup2 = rids.created(o2, buyer, goods)
    with _buyer_locked(db, buyer, "SHARE"):
        publish(publisher, dup2)
        time.sleep(2)
        assert not _applied(db, dup2), "a buyer with an open remittance was not taken in turn"
    wait_until(lambda: _applied(db, dup2), 30, "order.created once the buyer is free",
               interval=0.1)
    assert order_row(db, o2)["close_reason"] == "remittance_duplicate"
    assert db.scalar("SELECT duplicate_order_id FROM remittances WHERE remit_id = %s",
                     (r2,)) == o2


def test_m5_shop_order_first_then_remittance_closes_it(db, publisher, pipeline, rids):
    buyer, staff = rids.buyer(), rids.staff("阿傑")
    goods = items(("COAT-BLK", 1, "L"), ("HAT-01", 2))
    o = _open_order(db, publisher, pipeline, rids, buyer, goods, at=ago(days=1))
    r = rids.remit()
    at = ago(hours=4)
    ev = rids.ordered(r, buyer, staff, list(reversed(goods)), at=at)
    assert_applied(send(db, publisher, pipeline, ev), ev)
    row = order_row(db, o)
    assert row["closed"] is True and row["close_reason"] == "remittance_duplicate", row
    want = M5_NOTE.format(remit_id=r, staff=staff, date=shop_date(at).isoformat())
    assert notes(db, o) == [("M5", staff, want)]
    assert db.scalar("SELECT duplicate_order_id FROM remittances WHERE remit_id = %s",
                     (r,)) == o
    assert remittance(db, r)["state"] == "ordered"


def test_m5_other_goods_or_another_buyer_are_not_closed(db, publisher, pipeline, rids):
    buyer, other_buyer, staff = rids.buyer(), rids.buyer(), rids.staff()
    goods = items(("COAT-BLK", 1), ("HAT-01", 2))
    variants = {
        "other quantity": (buyer, items(("COAT-BLK", 1), ("HAT-01", 3))),
        "other sku": (buyer, items(("COAT-BLK", 1), ("HAT-02", 2))),
        "one item more": (buyer, items(("COAT-BLK", 1), ("HAT-01", 2), ("SOCK", 1))),
        "one item less": (buyer, items(("COAT-BLK", 1))),
        "another buyer": (other_buyer, goods),
    }
    # shop orders first, one paid identical order too (M5 closes only unpaid ones)
    before = {k: _open_order(db, publisher, pipeline, rids, b, g) for k, (b, g) in
              variants.items()}
    before["paid"] = _open_order(db, publisher, pipeline, rids, buyer, goods, paid=True)
    r1 = rids.remit()
    ev1 = rids.ordered(r1, buyer, staff, goods)
    assert_applied(send(db, publisher, pipeline, ev1), ev1)
    # then the remittance first, shop orders after
    r2 = rids.remit()
    ev2 = rids.ordered(r2, buyer, staff, items(("BAG-9", 1)))
    assert_applied(send(db, publisher, pipeline, ev2), ev2)
    after = {}
    for k, (b, g) in variants.items():
        g = [dict(x, sku="BAG-9") if x["sku"] == "COAT-BLK" else x for x in g]
        if k == "one item less":
            g = items(("BAG-9", 2))
        after[k] = _open_order(db, publisher, pipeline, rids, b, g)
    for k, o in list(before.items()) + list(after.items()):
        row = order_row(db, o)
        assert row["closed"] is False, f"{k}: order {o} closed as a duplicate: {notes(db, o)}"
        assert notes(db, o) == []
    for r in (r1, r2):
        assert db.scalar("SELECT duplicate_order_id FROM remittances WHERE remit_id = %s",
                         (r,)) is None


# ---------------------------------------------------------------------------------------
# M7 daily record and CSV, M8 review
# ---------------------------------------------------------------------------------------

CSV_HEADER = ["日期", "匯款單號", "買家", "是否拍下", "商品", "收貨地址", "客服", "金額", "狀態",
              "通知時間", "核實時間", "發貨時間", "運單號", "審核主管"]


def _hm(day, hh, mm):
    return shop_time(day, hh, mm)


def test_m7_daily_record_and_csv_export(db, publisher, pipeline, rids):
    day = free_day(db)
    boss = add_staff(rids.staff("陳主管"), "supervisor")
    staff, staff2 = rids.staff("小美"), rids.staff("阿傑")
    b1, b2, b3 = rids.buyer(), rids.buyer(), rids.buyer()
    ra, rb, rc = (f"{rids.prefix}-{x}" for x in ("a", "b", "c"))  # CSV rows sort by id
    o = _open_order(db, publisher, pipeline, rids, b1, items(("COAT-BLK", 1, "L")),
                    at=_hm(day, 9, 0))
    comma_addr = '香港九龍旺角彌敦道600號, 3樓 "A"座, 李太'
    evs = [
        rids.ordered(ra, b1, staff, items(("COAT-BLK", 1, "L")), placed=True, shop_order_id=o,
                     at=_hm(day, 10, 5)),
        rids.notified(ra, b1, staff, "1234.50", at=_hm(day, 11, 0)),
        rids.verified(ra, boss, "1234.50", at=_hm(day, 15, 30)),
        rids.shipped(ra, "倉管阿明", "SF0001", at=_hm(day, 18, 45)),
        rids.ordered(rb, b2, staff2, items(("DRESS-RED", 2, "S"), ("SCARF-01", 1)),
                     address=comma_addr, overseas=True, at=_hm(day, 23, 50)),
        rids.notified(rb, b2, staff2, "0.10", at=_hm(day, 23, 59)),
        rids.ordered(rc, b3, staff, items(("HAT-01", 3)), at=_hm(day, 0, 1)),
    ]
    # another day's remittance (the day after, 00:00 shop time) is not in this day's record
    late = rids.ordered(rids.remit(), b3, staff, items(("HAT-01", 1)),
                        at=_hm(day + datetime.timedelta(days=1), 0, 0))
    assert_applied(send(db, publisher, pipeline, *evs, late), *evs, late)
    assert str(remittance(db, late["subject"])["day"]) != str(day)

    rows = db.all("SELECT day, remit_id, buyer_id, amount::text, state, reviewed_by "
                  "FROM remittance_daily_v WHERE day = %s ORDER BY remit_id", (day,))
    assert rows == [(day, ra, b1, "1234.50", "shipped", None),
                    (day, rb, b2, "0.10", "notified", None),
                    (day, rc, b3, None, "ordered", None)], rows

    r = admin("remittance-csv", day.isoformat())
    text = r.stdout.decode("utf-8")  # strict: the bytes are UTF-8
    assert text.endswith("\r\n")
    got = list(csv.reader(io.StringIO(text, newline="")))
    assert got[0] == CSV_HEADER
    d = day.isoformat()
    assert got[1:] == [
        [d, ra, b1, "已拍下", "COAT-BLK L x1", "廣東省廣州市天河區體育西路1號 李小姐 13900139000",
         staff, "1234.50", "shipped", f"{d} 11:00", f"{d} 15:30", f"{d} 18:45", "SF0001", ""],
        [d, rb, b2, "未拍下", "DRESS-RED S x2; SCARF-01 x1", comma_addr, staff2, "0.10",
         "notified", f"{d} 23:59", "", "", "", ""],
        [d, rc, b3, "未拍下", "HAT-01 x3", evs[-1]["data"]["address"], staff, "", "ordered",
         "", "", "", "", ""],
    ], got[1:]
    # the field with commas and quotes is quoted, its quotes doubled (RFC 4180)
    assert ',"香港九龍旺角彌敦道600號, 3樓 ""A""座, 李太",' in text

    # a day without remittances: the header only
    empty = admin("remittance-csv", free_day(db).isoformat()).stdout.decode("utf-8")
    assert list(csv.reader(io.StringIO(empty, newline=""))) == [CSV_HEADER]
    bad = admin("remittance-csv", "2024-13-45", check=False)
    assert bad.returncode != 0 and bad.stderr, "a bad day should fail with a message"


def test_m8_review_of_a_day(db, publisher, pipeline, rids):
    day = free_day(db)
    boss, boss2 = (add_staff(rids.staff(n), "supervisor") for n in ("陳主管", "林主管"))
    clerk = add_staff(rids.staff("小李"), "staff")
    evs = [rids.ordered(rids.remit(), rids.buyer(), clerk, items(("A", 1)), at=_hm(day, h, 0))
           for h in (9, 14)]
    assert_applied(send(db, publisher, pipeline, *evs), *evs)
    unreviewed = lambda: db.all("SELECT remittances FROM remittance_unreviewed_days_v "  # noqa
                                "WHERE day = %s", (day,))
    assert unreviewed() == [(2,)], "M8: the new day is listed as unreviewed"

    by_clerk = rids.reviewed(day, clerk, at=_hm(day, 20, 0))
    by_stranger = rids.reviewed(day, rids.staff("路人"), at=_hm(day, 20, 1))
    out = send(db, publisher, pipeline, by_clerk, by_stranger)
    assert_rejected(out, by_clerk, clerk, "not a supervisor", "M8")
    assert_rejected(out, by_stranger, "not on the staff roster")
    assert unreviewed() == [(2,)]

    review = rids.reviewed(day, boss, at=_hm(day, 21, 0))
    second = rids.reviewed(day, boss2, at=_hm(day, 22, 0))
    out = send(db, publisher, pipeline, review, second)
    assert_applied(out, review)
    assert_rejected(out, second, "already reviewed", boss)
    assert unreviewed() == [], "M8: a reviewed day is no longer listed"
    assert db.all("SELECT DISTINCT reviewed_by FROM remittance_daily_v WHERE day = %s",
                  (day,)) == [(boss,)]
    assert db.one("SELECT supervisor, reviewed_at = %s::timestamptz FROM remittance_reviews "
                  "WHERE day = %s", (review["time"], day)) == (boss, True)


def _ts(value):
    """A timestamptz from row_to_json as the RFC 3339 UTC text events carry."""
    dt = datetime.datetime.fromisoformat(str(value))
    return dt.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_m5_both_arriving_together_close_each_duplicate_once(db, publisher, pipeline, rids):
    """The remittance and the shop order published at the same moment, for many buyers:
    whichever worker gets there first, each duplicate is closed once, with one note
    (both workers lock the buyer)."""
    staff = rids.staff("阿傑")
    pairs = []
    for i in range(40):
        buyer, r, o = rids.buyer(), rids.remit(), rids.order()
        goods = items((f"SKU-{i}", 1 + i % 3), ("SCARF-01", 1))
        pairs.append((r, o, rids.ordered(r, buyer, staff, goods),
                      rids.created(o, buyer, goods)))
    evs = []
    for i, (_, _, rem, cre) in enumerate(pairs):  # alternate which is published first
        evs += [rem, cre] if i % 2 else [cre, rem]
    out = send(db, publisher, pipeline, *evs)
    assert_applied(out, *evs)
    bad = []
    for r, o, _, _ in pairs:
        row, n = order_row(db, o), notes(db, o)
        dup = db.scalar("SELECT duplicate_order_id FROM remittances WHERE remit_id = %s", (r,))
        if not (row["closed"] and [c for c, _, _ in n] == ["M5"] and dup == o):
            bad.append((o, row["closed"], n, dup))
    assert not bad, f"{len(bad)} of {len(pairs)} duplicate(s) not closed exactly once: {bad[:3]}"


def test_staff_roster_roles(db):
    name = f"主管{datetime.datetime.now().timestamp()}"
    r = admin("staff", name, "boss", check=False)
    assert r.returncode != 0 and "supervisor" in r.stderr.decode(), r.stderr
    assert db.scalar("SELECT count(*) FROM staff WHERE name = %s", (name,)) == 0
    add_staff(name, "staff")
    add_staff(name, "supervisor")  # a role change
    assert db.scalar("SELECT role FROM staff WHERE name = %s", (name,)) == "supervisor"


def test_m2_notice_naming_another_buyer_is_rejected(db, publisher, pipeline, rids):
    buyer, staff = rids.buyer(), rids.staff()
    r = rids.remit()
    ev = rids.ordered(r, buyer, staff, items(("A", 1)))
    notice = rids.notified(r, rids.buyer(), staff, "10.00")
    out = send(db, publisher, pipeline, ev, notice)
    assert_applied(out, ev)
    assert_rejected(out, notice, "buyer_id")


def test_m6_second_shipping_reason_says_already_shipped(db, publisher, pipeline, rids):
    buyer, staff = rids.buyer(), rids.staff()
    boss = add_staff(rids.staff("陳主管"), "supervisor")
    r = rids.remit()
    evs = [rids.ordered(r, buyer, staff, items(("A", 1))),
           rids.notified(r, buyer, staff, "10.00"), rids.verified(r, boss, "10.00"),
           rids.shipped(r, "倉管", "SF1")]
    again = rids.shipped(r, "倉管", "SF2")
    out = send(db, publisher, pipeline, *evs, again)
    assert_applied(out, *evs)
    assert remittance(db, r)["waybill_no"] == "SF1"
    assert_rejected(out, again, "already shipped")

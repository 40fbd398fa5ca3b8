"""Whole stories end to end (SPEC 4.2-4.3, T1-T2): events published to shop.orders one
step after another, applied by orderflow-order-worker, and the order's timeline of notes,
its tasks, its fields, the balance ledger, refund registrations and dead letters read back
from PostgreSQL's views after each step. Events are built as in the rule table
(tests/rules/_defaults.json: {date} renders 2026-11-23 unless a step gives another time).
"""
import pytest

import rules_lib as rl

A7 = {"code": "A7", "author": "小美", "rendered": "2026-11-23"}
ADDRESS = "上海市浦東新區世紀大道8號 張先生 13700137000"
ADDRESS2 = "北京市朝陽區建國路1號 李小姐 13800138000"
SKU_B = {"items": [{"sku": "DRESS-BLUE", "size": "M", "qty": 1, "unit_price": "89.00"}],
         "total": "89.00"}
class Env:
    def __init__(self):
        self.run = rl.run_id()
        self.source = f"shop/stories-{self.run}"
        self.defaults = rl.load_defaults()
        self.db = rl.Db()
        self.pub = rl.Publisher()
        self.worker = rl.Worker("test_stories").start()


@pytest.fixture(scope="module")
def env():
    e = Env()
    yield e
    rc = e.worker.stop()
    e.db.close()
    assert rc == 0, f"order-worker exited {rc} after SIGTERM\n{e.worker.log_tail()}"


class Story:
    """One story's orders (A, B, ...) and buyer, with ids of their own."""

    def __init__(self, env, name):
        assert name.isalnum()
        self.env = env
        self.prefix = f"st{env.run}-{name}-"
        self.n = 0

    def id(self, alias):
        return self.prefix + alias

    def send(self, *steps):
        """Publishes the steps in order, waits until the worker consumed them; returns for
        each None (applied) or the dead letter's reason."""
        sent = []
        for step in steps:
            ev = rl.build_event(self.env.defaults, step, self.prefix, self.n, self.env.source)
            self.n += 1
            sent.append(self.env.pub.publish(ev))
        sent = self.env.pub.flush()
        rl.wait_consumed(self.env.db, self.env.worker.group, sent)
        out = rl.outcomes(self.env.db, sent)
        return [out[(s.partition, s.offset)] for s in sent]

    def ok(self, *steps):
        for step, why in zip(steps, self.send(*steps)):
            assert why is None, f"{step} was rejected: {why}"

    def rejected(self, step, needle):
        before = self.state()
        why = self.send(step)[0]
        assert why is not None, f"{step} was applied, want it rejected ({needle!r})"
        assert needle in why, f"{step}: reason {why!r} does not contain {needle!r}"
        assert rl.DEAD_YET_APPLIED not in why, why
        after = self.state()
        assert after == before, f"the rejected {step} left something behind"
        return why

    def state(self):
        return rl.read_state(self.env.db, self.prefix).get(self.prefix, rl.empty_state())

    def check(self, **expect):
        fails = rl.check_expect(expect, self.state(), self.prefix)
        assert not fails, "\n  ".join(["state differs:"] + fails)

    def order(self, alias="A"):
        return self.state()["orders"][self.id(alias)]


# ---------------------------------------------------------------------------------------
# buyer cancels a printed order
# ---------------------------------------------------------------------------------------

def test_cancel_printed_waybill_not_found_then_refund(env):
    """created → paid → printed → buyer_cancelled (A15) → waybill_cancelled not_found (A17)
    → refund.registered (F3)."""
    s = Story(env, "cancelnotfound")
    s.ok("order.created", {"type": "order.paid", "time": "2026-11-23T10:15:00+08:00"},
         {"type": "order.printed", "time": "2026-11-23T14:00:00+08:00"})
    s.check(notes={"A": [A7]},
            orders={"A": {"state": "printed", "ship_by": "2026-11-23",
                          "refund_from": "2026-11-24T10:15:00+08:00",
                          "printed_at": "2026-11-23T14:00:00+08:00"}})
    a15 = {"code": "A15", "author": "阿傑",
           "rendered": "買家不要,申請退款,待撤單,已交小惠處理+阿傑/2026-11-23"}
    s.ok({"type": "order.buyer_cancelled", "time": "2026-11-23T15:00:00+08:00",
          "data": {"assistant": "小惠", "relister": "阿強"}})
    s.check(notes={"A": [A7, a15]},
            tasks={"A": [{"kind": "cancel_waybill", "assignee": "小惠", "status": "open"}]})

    # the assistant could not find the waybill: the original staff notes it (A0, A17)
    s.ok({"type": "order.waybill_cancelled", "time": "2026-11-24T09:30:00+08:00",
          "data": {"outcome": "not_found", "cause": "快遞已發", "courier": "圓通"}})
    a17 = {"code": "A17", "author": "阿傑",
           "rendered": "面單未找到(快遞已發),已聯系快遞圓通退回,并拜托買家拒簽+已交售後登記+阿傑/2026-11-24"}
    s.check(notes={"A": [A7, a15, a17]},
            tasks={"A": [{"kind": "cancel_waybill", "assignee": "小惠", "status": "done"},
                         {"kind": "cancel_followup", "assignee": "阿傑", "status": "open"},
                         {"kind": "after_sales", "assignee": "after_sales", "status": "open"}]},
            orders={"A": {"state": "printed", "closed": False}})
    s.rejected({"type": "order.waybill_cancelled", "data": {"relister": "阿強"}},
               "no waybill cancellation pending")

    # the refund is registered once the parcel came back
    s.ok({"type": "refund.registered", "time": "2026-11-25T11:00:00+08:00",
          "data": {"channel": "bank", "account": "6222020200112233445", "real_name": "王小明",
                   "amount": "129.00", "reason": "買家不要,已拒簽"}})
    f3 = {"code": "F3", "author": "阿傑", "rendered": "退款已登記+阿傑/2026-11-25"}
    s.check(notes={"A": [A7, a15, a17, f3]},
            tasks={"A": [{"kind": "cancel_waybill", "assignee": "小惠", "status": "done"},
                         {"kind": "cancel_followup", "assignee": "阿傑", "status": "open"},
                         {"kind": "after_sales", "assignee": "after_sales", "status": "open"}]},
            orders={"A": {"refunded": "129.00"}},
            refunds=[{"order": "A", "buyer": "@buyer", "channel": "bank",
                      "account_masked": "***************3445", "real_name_masked": "王**",
                      "amount": "129.00", "reason": "買家不要,已拒簽", "staff": "阿傑",
                      "reply": "已登記"}])
    # nothing is left of the payment
    s.rejected({"type": "refund.registered", "data": {"amount": "0.01"}},
               "0.01 is more than the 0.00 left of the payment")


def test_cancel_printed_waybill_cancelled_then_refund(env):
    """printed → buyer_cancelled (A15) → waybill_cancelled (A16: relister and staff told,
    back to paid) → refund.due (F2) → refund.registered (F3, closes the registration)."""
    s = Story(env, "cancelok")
    s.ok("order.created", "order.paid", "order.printed",
         {"type": "order.buyer_cancelled", "data": {"assistant": "小惠", "relister": "阿強",
                                                    "staff": "阿美"}})
    s.ok({"type": "order.waybill_cancelled", "time": "2026-11-23T16:00:00+08:00"})
    a15 = {"code": "A15", "author": "阿美",
           "rendered": "買家不要,申請退款,待撤單,已交小惠處理+阿美/2026-11-23"}
    a16 = {"code": "A16", "author": "小惠",
           "rendered": "單已撤,可以退款+已提交阿強上架+小惠/2026-11-23"}
    s.check(notes={"A": [A7, a15, a16]},
            tasks={"A": [{"kind": "cancel_waybill", "assignee": "小惠", "status": "done"},
                         {"kind": "relist", "assignee": "阿強", "status": "open"},
                         {"kind": "cancel_done", "assignee": "阿美", "status": "open"}]},
            orders={"A": {"state": "paid", "waybill_no": None, "closed": False}})
    s.ok({"type": "refund.due", "data": {"sku": "DRESS-RED", "kind": "discount",
                                         "amount": "129.00", "staff": "阿美"}},
         {"type": "refund.registered", "data": {"amount": "129.00", "staff": "阿傑"}})
    s.check(notes={"A": [A7, a15, a16,
                         {"code": "F2", "author": "阿美",
                          "rendered": "DRESS-RED應退折扣129.00元,退到支付寶buyer01@example.com+阿美/2026-11-23"},
                         {"code": "F3", "author": "阿傑", "rendered": "退款已登記+阿傑/2026-11-23"}]},
            tasks={"A": [{"kind": "cancel_waybill", "assignee": "小惠", "status": "done"},
                         {"kind": "relist", "assignee": "阿強", "status": "open"},
                         {"kind": "cancel_done", "assignee": "阿美", "status": "open"},
                         {"kind": "register_refund", "assignee": "registrar", "status": "done"}]},
            orders={"A": {"refunded": "129.00"}},
            refunds=[{"order": "A", "account_masked": "***************.com", "amount": "129.00",
                      "reply": "已登記"}])


def test_cancel_paid_and_unpaid(env):
    """A14 on a paid order (refund from paid + 24 h, relister), A13 on an unpaid order
    (closed; an auction item relisted instead)."""
    s = Story(env, "cancelearly")
    s.ok("order.created", {"type": "order.created", "order": "B"},
         {"type": "order.created", "order": "C", "data": {"auction": True}})
    s.ok({"type": "order.paid", "time": "2026-11-23T12:30:00+08:00"},
         {"type": "order.buyer_cancelled", "data": {"relister": "阿強"}},
         {"type": "order.buyer_cancelled", "order": "B"},
         {"type": "order.buyer_cancelled", "order": "C", "data": {"relister": "阿強"}})
    s.check(notes={"A": [{"code": "A14", "author": "阿傑",
                          "rendered": "買家不要,申請退款+已提交阿強上架+阿傑/2026-11-23"}],
                   "C": [{"code": "A13", "author": "阿傑",
                          "rendered": "這款不要了,已交阿強上架+阿傑/2026-11-23"}]},
            tasks={"A": [{"kind": "relist", "assignee": "阿強", "status": "open"}],
                   "C": [{"kind": "relist", "assignee": "阿強", "status": "open"}]},
            orders={"A": {"state": "paid", "closed": False, "ship_by": "2026-11-24",
                          "refund_from": "2026-11-24T12:30:00+08:00"},
                    "B": {"state": "unpaid", "closed": True, "close_reason": "buyer_cancelled"},
                    "C": {"state": "unpaid", "closed": False}})
    s.rejected({"type": "order.paid", "order": "B"}, "is closed")


# ---------------------------------------------------------------------------------------
# exchanges, each sign of the price difference
# ---------------------------------------------------------------------------------------

def _exchange_setup(s, printed):
    s.ok("order.created", "order.paid", *(["order.printed"] if printed else []),
         {"type": "order.created", "order": "B", "data": SKU_B})


A18 = {"code": "A18", "author": "阿傑",
       "rendered": "DRESS-RED不要了,可以上架,換DRESS-BLUE,已拍下留貨+阿傑/2026-11-23"}


def test_exchange_paid_no_difference(env):
    s = Story(env, "exzero")
    _exchange_setup(s, printed=False)
    s.ok({"type": "order.exchanged", "data": {"price_diff": "0.00"}})
    s.check(notes={"A": [A18]},
            tasks={"A": [{"kind": "special_order", "assignee": "order_clerk", "status": "open"}]},
            orders={"A": {"state": "paid", "closed": False},
                    "B": {"closed": True, "close_reason": "exchange", "total": "89.00"}})
    s.rejected({"type": "order.paid", "order": "B", "data": {"amount": "89.00"}}, "is closed")
    # the exchanged sku is still A's: the order goes on to be printed and shipped
    s.ok("order.printed", "order.shipped")
    s.check(notes={"A": [A18, A7]},
            tasks={"A": [{"kind": "special_order", "assignee": "order_clerk", "status": "open"}]},
            orders={"A": {"state": "shipped"}})


def test_exchange_paid_buyer_pays_difference(env):
    s = Story(env, "explus")
    _exchange_setup(s, printed=False)
    s.ok({"type": "order.exchanged", "data": {"price_diff": "15.50"}})
    diff = {"code": "A18", "author": "阿傑", "rendered": "差價支付後再下單+阿傑/2026-11-23"}
    s.check(notes={"A": [A18], "B": [diff]},
            tasks={"B": [{"kind": "print_watch", "assignee": "order_clerk", "status": "open"}]},
            orders={"A": {"state": "paid", "closed": False},
                    "B": {"state": "unpaid", "closed": False, "total": "15.50"}})
    # the buyer pays the difference on B at 13:00: B ships the next day (T1)
    s.ok({"type": "order.paid", "order": "B", "time": "2026-11-23T13:00:00+08:00",
          "data": {"amount": "15.50"}})
    s.check(notes={"A": [A18], "B": [diff]},
            tasks={"B": [{"kind": "print_watch", "assignee": "order_clerk", "status": "open"}]},
            orders={"B": {"state": "paid", "ship_by": "2026-11-24"}})


def test_exchange_paid_refund_difference(env):
    s = Story(env, "exminus")
    _exchange_setup(s, printed=False)
    s.ok({"type": "order.exchanged", "data": {"price_diff": "-12.00"}})
    s.check(notes={"A": [A18]},
            tasks={"A": [{"kind": "special_order", "assignee": "order_clerk", "status": "open"},
                         {"kind": "refund_due", "assignee": "阿傑", "status": "open"}]},
            orders={"B": {"closed": True, "close_reason": "exchange"}})
    # the difference is due on A (F2), then registered (F3)
    s.ok({"type": "refund.due", "data": {"sku": "DRESS-RED", "kind": "discount",
                                         "amount": "12.00", "staff": "阿傑"}},
         {"type": "refund.registered", "data": {"amount": "12.00", "reason": "換款退差價"}})
    s.check(notes={"A": [A18,
                         {"code": "F2", "author": "阿傑",
                          "rendered": "DRESS-RED應退折扣12.00元,退到支付寶buyer01@example.com+阿傑/2026-11-23"},
                         {"code": "F3", "author": "阿傑", "rendered": "退款已登記+阿傑/2026-11-23"}]},
            tasks={"A": [{"kind": "special_order", "assignee": "order_clerk", "status": "open"},
                         {"kind": "refund_due", "assignee": "阿傑", "status": "done"},
                         {"kind": "register_refund", "assignee": "registrar", "status": "done"}]},
            orders={"A": {"refunded": "12.00"}},
            refunds=[{"order": "A", "amount": "12.00", "reason": "換款退差價", "reply": "已登記"}])


@pytest.mark.parametrize("diff", ["0.00", "10.00", "-10.00"])
def test_exchange_printed_each_sign(env, diff):
    """SPEC A18 'printed: also the A15 cancel flow' (rule book: 基本同上,涉及改單部分,參照
    拍下后不要中Ⅲ.撤單處理): the A18 notes and tasks of a paid order, plus the A15 note and
    the assistant's waybill-cancel task."""
    s = Story(env, "exprinted" + {"0.00": "zero", "10.00": "plus", "-10.00": "minus"}[diff])
    _exchange_setup(s, printed=True)
    why = s.send({"type": "order.exchanged", "data": {"price_diff": diff, "assistant": "小惠"}})[0]
    assert why is None, f"the exchange of a printed order was rejected: {why}"
    a15 = {"code": "A15", "author": "阿傑",
           "rendered": "買家不要,申請退款,待撤單,已交小惠處理+阿傑/2026-11-23"}
    cancel = {"kind": "cancel_waybill", "assignee": "小惠", "status": "open"}
    special = {"kind": "special_order", "assignee": "order_clerk", "status": "open"}
    if diff == "10.00":
        s.check(notes={"A": [A7, A18, a15],
                       "B": [{"code": "A18", "author": "阿傑",
                              "rendered": "差價支付後再下單+阿傑/2026-11-23"}]},
                tasks={"A": [cancel],
                       "B": [{"kind": "print_watch", "assignee": "order_clerk", "status": "open"}]},
                orders={"B": {"closed": False, "total": "10.00"}})
    else:
        tasks = [special] + ([{"kind": "refund_due", "assignee": "阿傑", "status": "open"}]
                             if diff == "-10.00" else []) + [cancel]
        s.check(notes={"A": [A7, A18, a15]}, tasks={"A": tasks}, orders={"B": {"closed": True}})
    # the assistant cancels the waybill (A16)
    s.ok({"type": "order.waybill_cancelled", "data": {"relister": "阿強"}})
    assert s.order()["state"] == "paid"


def test_exchange_rejections(env):
    s = Story(env, "exbad")
    s.ok("order.created", "order.paid")
    s.rejected("order.exchanged", "is not a known order")  # B not created
    s.ok({"type": "order.created", "order": "B", "data": SKU_B})
    s.rejected({"type": "order.exchanged", "data": {"to_sku": "DRESS-RED"}},
               "an exchange needs another sku")
    s.rejected({"type": "order.exchanged", "data": {"from_sku": "HAT-9"}},
               "is not an item of order")
    s.rejected({"type": "order.exchanged", "data": {"new_order_id": "@A"}},
               "is not a known order")
    s.check(orders={"A": {"state": "paid", "closed": False}, "B": {"closed": False}})


# ---------------------------------------------------------------------------------------
# out of stock in each state
# ---------------------------------------------------------------------------------------

def test_out_of_stock_unpaid(env):
    s = Story(env, "oosunpaid")
    s.ok("order.created")
    s.rejected({"type": "order.out_of_stock", "data": {"sku": "HAT-9"}}, "is not an item")
    s.ok({"type": "order.out_of_stock", "data": {"via": "wangwang"}})
    s.check(notes={"A": [{"code": "A19", "author": "小美",
                          "rendered": "此款無貨+已旺旺通知買家+小美+2026-11-23"}]},
            orders={"A": {"state": "unpaid", "closed": True, "close_reason": "out_of_stock"}})
    s.rejected("order.paid", "is closed")
    s.rejected({"type": "order.out_of_stock", "data": {"sku": "DRESS-RED"}}, "is closed")


def test_out_of_stock_paid(env):
    s = Story(env, "oospaid")
    s.ok("order.created", "order.paid")
    s.rejected({"type": "order.out_of_stock", "data": {"via": "wangwang", "buyer_online": False}},
               "must be told by phone")
    s.ok({"type": "order.out_of_stock", "data": {"via": "wangwang", "buyer_online": True}})
    a20 = {"code": "A20", "author": "小美",
           "rendered": "此款無貨+不要打單,已旺旺通知買家申請退款+小美+2026-11-23"}
    s.check(notes={"A": [a20]}, orders={"A": {"state": "paid", "closed": False}})
    # the buyer applies for the refund of the missing item: it is registered
    s.ok({"type": "refund.registered", "data": {"amount": "30.00", "reason": "SCARF-01無貨"}})
    s.check(notes={"A": [a20, {"code": "F3", "author": "阿傑",
                               "rendered": "退款已登記+阿傑/2026-11-23"}]},
            orders={"A": {"refunded": "30.00"}},
            refunds=[{"order": "A", "amount": "30.00", "reason": "SCARF-01無貨"}])


def test_out_of_stock_printed(env):
    s = Story(env, "oosprinted")
    s.ok("order.created", "order.paid", "order.printed")
    s.ok("order.out_of_stock")
    a21 = {"code": "A21", "author": "小美",
           "rendered": "此款無貨+已撤單,已電話通知買家申請退款+小美+2026-11-23"}
    s.check(notes={"A": [A7, a21]}, orders={"A": {"state": "printed", "struck_skus": ["SCARF-01"]}})
    s.rejected("order.out_of_stock", "was struck from order")
    s.rejected({"type": "order.out_of_stock", "data": {"sku": "DRESS-RED", "via": "wangwang"}},
               "must be told by phone")
    s.ok({"type": "order.out_of_stock", "data": {"sku": "DRESS-RED", "via": "wangwang",
                                                  "buyer_online": True}})
    s.check(notes={"A": [A7, a21, {"code": "A21", "author": "小美",
                                   "rendered": "此款無貨+已撤單,已旺旺通知買家申請退款+小美+2026-11-23"}]},
            orders={"A": {"struck_skus": ["SCARF-01", "DRESS-RED"]}})
    # a struck sku can no longer be the subject of a claim
    s.rejected({"type": "refund.claimable", "data": {"sku": "SCARF-01"}}, "was struck from order")


def test_out_of_stock_shipped_and_closed(env):
    s = Story(env, "oosshipped")
    s.ok("order.created", "order.paid", "order.printed", "order.shipped")
    s.rejected("order.out_of_stock", "has shipped")
    s.ok("order.closed")
    s.rejected("order.out_of_stock", "is closed")
    s.check(notes={"A": [A7]}, orders={"A": {"state": "shipped", "closed": True, "struck_skus": []}})


# ---------------------------------------------------------------------------------------
# address changes before and after printing, and the assistant's fix
# ---------------------------------------------------------------------------------------

def _a9(address, staff="阿傑"):
    return {"code": "A9", "author": staff, "rendered": f"收件地址修改為:{address}+{staff}/2026-11-23"}


def _a10(address, staff="阿傑", assistant="小惠"):
    return {"code": "A10", "author": staff,
            "rendered": f"地址須更改為:{address},待改面單,已交{assistant}處理+{staff}/2026-11-23"}


def test_address_change_fixed(env):
    s = Story(env, "addrfixed")
    s.ok("order.created", "order.address_changed", "order.paid",
         {"type": "order.address_changed", "data": {"address": ADDRESS2}})
    s.check(notes={"A": [_a9(ADDRESS), _a9(ADDRESS2)]}, orders={"A": {"address": ADDRESS2}})
    s.ok("order.printed")
    s.rejected("order.address_changed", "data.assistant: required")
    s.ok({"type": "order.address_changed", "data": {"assistant": "小惠"}})
    s.check(notes={"A": [_a9(ADDRESS), _a9(ADDRESS2), A7, _a10(ADDRESS)]},
            tasks={"A": [{"kind": "fix_waybill", "assignee": "小惠", "status": "open"}]},
            orders={"A": {"address": ADDRESS, "state": "printed"}})
    s.ok({"type": "order.waybill_fixed", "time": "2026-11-24T10:00:00+08:00"})
    a11 = {"code": "A11", "author": "小惠", "rendered": "面單地址已改+小惠/2026-11-24"}
    s.check(notes={"A": [_a9(ADDRESS), _a9(ADDRESS2), A7, _a10(ADDRESS), a11]},
            tasks={"A": [{"kind": "fix_waybill", "assignee": "小惠", "status": "done"}]})
    s.rejected("order.waybill_fixed", "no waybill fix pending")
    s.ok("order.shipped")
    s.rejected({"type": "order.address_changed", "data": {"assistant": "小惠"}}, "has shipped")


@pytest.mark.parametrize("courier", [None, "圓通"])
def test_address_change_waybill_not_found(env, courier):
    s = Story(env, "addrnotfound" + ("courier" if courier else ""))
    s.ok("order.created", "order.paid", "order.printed",
         {"type": "order.address_changed", "data": {"assistant": "小惠", "staff": "阿美"}})
    data = {"outcome": "not_found", "cause": "已攬收"}
    if courier:
        data["courier"] = courier
    s.rejected({"type": "order.waybill_fixed", "data": {"outcome": "not_found"}},
               "data.cause: required")
    # the assistant hands it back; the original staff (阿美, from the task) notes it (A0)
    s.ok({"type": "order.waybill_fixed", "data": data})
    a12 = {"code": "A12", "author": "阿美",
           "rendered": (f"面單未找到(已攬收),已聯系快遞{courier}修改+阿美/2026-11-23" if courier
                        else "面單未找到(已攬收),已聯系快遞退回+阿美/2026-11-23")}
    s.check(notes={"A": [A7, _a10(ADDRESS, staff="阿美"), a12]},
            tasks={"A": [{"kind": "fix_waybill", "assignee": "小惠", "status": "done"}]},
            orders={"A": {"state": "printed", "address": ADDRESS}})


# ---------------------------------------------------------------------------------------
# a buyer's balance: registered, deducted in a price, used, never negative
# ---------------------------------------------------------------------------------------

def test_balance_story(env):
    s = Story(env, "balance")
    s.ok("order.created", {"type": "order.created", "order": "B"})
    s.ok({"type": "balance.registered", "data": {"amount": "20.00"}})
    s.ok({"type": "order.price_changed", "data": {"reason": "balance_deduction", "amount": "5.00",
                                                  "new_total": "124.00"}})
    s.rejected({"type": "balance.used", "order": "B", "data": {"amount": "15.01"}},
               "has a balance of 15.00: 15.01 cannot be deducted")
    s.ok({"type": "balance.used", "order": "B", "data": {"amount": "15.00"}})
    s.rejected({"type": "balance.used", "order": "B", "data": {"amount": "0.01"}},
               "a balance never goes negative")
    s.check(notes={"A": [{"code": "F3", "author": "阿傑", "rendered": "余額已登記+阿傑/2026-11-23"},
                         {"code": "A5", "author": "阿傑",
                          "rendered": "扣除余額5.00元,還剩余額15.00+阿傑/2026-11-23"}],
                   "B": [{"code": "F4", "author": "小美",
                          "rendered": "余額扣除15.00元,余額清零,已通知登記+小美+2026-11-23"}]},
            tasks={"A": [{"kind": "register_balance", "assignee": "registrar", "status": "open"}],
                   "B": [{"kind": "register_balance", "assignee": "registrar", "status": "open"}]},
            orders={"A": {"total": "124.00"}},
            ledger=[{"buyer": "@buyer", "delta": "20.00", "balance_after": "20.00",
                     "kind": "registered", "order": "A"},
                    {"buyer": "@buyer", "delta": "-5.00", "balance_after": "15.00",
                     "kind": "price_deduction", "order": "A"},
                    {"buyer": "@buyer", "delta": "-15.00", "balance_after": "0.00",
                     "kind": "used", "order": "B"}])

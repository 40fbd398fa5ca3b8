#!/usr/bin/env python3
"""gen_events.py — writes a JSON Lines stream of valid shop.orders events for benchmarks
and demos: N orders, each created → paid → printed → shipped → closed, interleaved the way
a busy shop's stream is (a window of orders in flight at once).

    gen_events.py --orders 200000 --prefix b1 > events.jsonl     (5 events per order)
    gen_events.py --mix --orders 100000 --prefix m1 > mix.jsonl    (issue 3's mix)

--mix: created, price_changed (A1), paid, address_changed (A9), printed (A7): 60 % lifecycle
and 40 % annotation events, every one leaving a note or a state change.
"""
import argparse
import json
import sys
from datetime import datetime, timedelta, timezone

STEPS = ("order.created", "order.paid", "order.printed", "order.shipped", "order.closed")
MIX = ("order.created", "order.price_changed", "order.paid", "order.address_changed",
       "order.printed")


def data_for(step, oid, shop, i):
    if step == "order.created":
        return {"order_id": oid, "shop_id": shop, "buyer_id": f"buyer{i % 5000}",
                "items": [{"sku": f"SKU{i % 300}", "size": "M", "qty": 1 + i % 3,
                           "unit_price": "15.00"}],
                "total": f"{15 * (1 + i % 3) + 5}.00", "postage": "5.00", "auction": False}
    if step == "order.paid":
        return {"order_id": oid, "amount": f"{15 * (1 + i % 3) + 4}.00", "method": "alipay"}
    if step == "order.price_changed":
        return {"order_id": oid, "staff": "小王", "new_total": f"{15 * (1 + i % 3) + 4}.00",
                "reason": "normal"}
    if step == "order.address_changed":
        return {"order_id": oid, "staff": "小王", "address": f"上海市徐匯區漕溪北路{i % 500}號"}
    if step == "order.printed":
        return {"order_id": oid, "waybill_no": f"W{i}", "staff": "小王"}
    if step == "order.shipped":
        return {"order_id": oid, "carrier": "SF", "waybill_no": f"W{i}"}
    return {"order_id": oid, "reason": "completed"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=1000)
    ap.add_argument("--prefix", default="demo")
    ap.add_argument("--shop", default="s1")
    ap.add_argument("--window", type=int, default=64, help="orders in flight at once")
    ap.add_argument("--steps", type=int, default=5, help="events per order (1-5)")
    ap.add_argument("--mix", action="store_true", help="issue 3's lifecycle + annotation mix")
    a = ap.parse_args()
    base = datetime(2026, 11, 23, 1, 0, tzinfo=timezone.utc)
    out = sys.stdout
    src = f"shop/{a.shop}"
    steps = (MIX if a.mix else STEPS)[: max(1, min(5, a.steps))]
    # Orders start in groups of `window`; within a group their events interleave.
    for g in range(0, a.orders, a.window):
        group = range(g, min(a.orders, g + a.window))
        for s, step in enumerate(steps):
            for i in group:
                oid = f"{a.prefix}-{i}"
                t = base + timedelta(seconds=i, minutes=s)
                ev = {"specversion": "1.0", "id": f"{oid}-{s}", "source": src, "type": step,
                      "time": t.strftime("%Y-%m-%dT%H:%M:%SZ"), "subject": oid,
                      "datacontenttype": "application/json", "data": data_for(step, oid, a.shop, i)}
                out.write(json.dumps(ev, ensure_ascii=False, separators=(",", ":")))
                out.write("\n")


if __name__ == "__main__":
    main()

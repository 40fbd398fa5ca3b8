#!/usr/bin/env python3
"""provider.py — the recharge provider of the tests (SPEC §7), a separate process:

  POST /recharge                {attempt_id, order_id, account, product, face_value}
  GET  /recharge/{attempt_id}   the attempt's status (404 when it was never received)
      → {"status": "success|failed|pending|unknown", "provider_ref": "P-…"}

The attempt id is the idempotency key: a second POST of an attempt never tops up again.
Each successful top-up is counted per order, so a test can assert that no order was ever
topped up twice (R7). Behaviour is configurable per account (the recharge's phone number
or game id), with a default:

  latency_ms         delay of the POST answer (the top-up itself happens then, answered or not)
  outcome            success | failed | pending | unknown | timeout | http500 | http503
  topup              for unknown/timeout/5xx: whether the top-up happened (default: true for
                     timeout, false otherwise) — a later status query tells the truth
  pending_ms, final  for pending: after pending_ms the attempt becomes final (success|failed)
  status_latency_ms  delay of status queries (a slow status query)
  status_outcome     override the status query's answer: unknown | timeout | http500

Control and inspection (for the tests):
  POST /config {"default": {...}, "accounts": {"acc": {...}}}   merged into the current
  GET  /stats?prefix=P   {"topups": {order: n}, "posts": {order: n}, "status_queries":
                          {order: n}, "max_topups": n, "orders": n} for orders starting with P
  GET  /calls?prefix=P   every call for those orders: [{t, kind, attempt_id, order_id}]

Usage: provider.py --port PORT [--default JSON]
"""
import argparse
import asyncio
import itertools
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import httpserve  # noqa: E402

DEFAULT = {"latency_ms": 50, "outcome": "success", "pending_ms": 1000, "final": "success",
           "status_latency_ms": 0}


class Provider:
    def __init__(self, default):
        self.default = dict(DEFAULT, **default)
        self.accounts = {}
        self.attempts = {}  # attempt_id -> {order, account, state, ref}
        self.topups = {}    # order_id -> successful top-ups
        self.posts = {}     # order_id -> POSTs received
        self.queries = {}   # order_id -> status queries received
        self.calls = []     # [{t, kind, attempt_id, order_id}]
        self.refs = itertools.count(1)

    def behaviour(self, account):
        b = dict(self.default)
        b.update(self.accounts.get(account, {}))
        return b

    # -- the provider's own state -------------------------------------------------------

    def _settle(self, attempt_id, state):
        rec = self.attempts[attempt_id]
        if rec["state"] in ("success", "failed"):
            return
        rec["state"] = state
        if state == "success":
            rec["ref"] = f"P-{next(self.refs):08d}"
            self.topups[rec["order"]] = self.topups.get(rec["order"], 0) + 1

    def _process(self, attempt_id, b):
        """What the provider does with a new attempt, whatever it answers."""
        loop = asyncio.get_running_loop()
        delay = b["latency_ms"] / 1000
        outcome = b["outcome"]
        if outcome == "pending":
            loop.call_later(delay, self._settle, attempt_id, "pending")
            loop.call_later(delay + b["pending_ms"] / 1000, self._settle, attempt_id, b["final"])
        elif outcome in ("success", "failed"):
            loop.call_later(delay, self._settle, attempt_id, outcome)
        else:
            topup = b.get("topup", outcome == "timeout")
            loop.call_later(delay, self._settle, attempt_id, "success" if topup else "failed")

    def _answer(self, rec):
        st = rec["state"]
        if st == "processing":
            st = "pending"
        out = {"status": st}
        if rec.get("ref"):
            out["provider_ref"] = rec["ref"]
        return out

    # -- HTTP -----------------------------------------------------------------------------

    async def handle(self, req):
        if req.method == "POST" and req.path == "/recharge":
            return await self.recharge(req)
        if req.method == "GET" and req.path.startswith("/recharge/"):
            return await self.status(req.path[len("/recharge/"):])
        if req.method == "POST" and req.path == "/config":
            cfg = req.json()
            self.default.update(cfg.get("default", {}))
            for acc, b in cfg.get("accounts", {}).items():
                self.accounts.setdefault(acc, {}).update(b)
            return 200, {"default": self.default, "accounts": len(self.accounts)}
        if req.method == "GET" and req.path == "/stats":
            p = req.query.get("prefix", "")
            pick = lambda d: {k: v for k, v in d.items() if k.startswith(p)}  # noqa: E731
            topups = pick(self.topups)
            return 200, {"topups": topups, "posts": pick(self.posts),
                         "status_queries": pick(self.queries),
                         "max_topups": max(topups.values(), default=0),
                         "orders": len({a["order"] for a in self.attempts.values()
                                        if a["order"].startswith(p)})}
        if req.method == "GET" and req.path == "/calls":
            p = req.query.get("prefix", "")
            return 200, [c for c in self.calls if c["order_id"].startswith(p)]
        if req.method == "GET" and req.path == "/health":
            return 200, {"ok": True}
        return 404, {"error": f"no {req.method} {req.path}"}

    async def recharge(self, req):
        try:
            body = req.json()
            attempt_id, order = body["attempt_id"], body["order_id"]
            account = body["account"]
        except (ValueError, KeyError, TypeError) as e:
            return 400, {"error": f"bad request: {e}"}
        self.posts[order] = self.posts.get(order, 0) + 1
        self.calls.append({"t": time.time(), "kind": "recharge", "attempt_id": attempt_id,
                           "order_id": order})
        b = self.behaviour(account)
        rec = self.attempts.get(attempt_id)
        if rec is not None:
            # the idempotency key: the same attempt again is never a second top-up
            return 200, self._answer(rec)
        rec = {"order": order, "account": account, "state": "processing"}
        self.attempts[attempt_id] = rec
        self._process(attempt_id, b)
        await asyncio.sleep(b["latency_ms"] / 1000)
        outcome = b["outcome"]
        if outcome == "timeout":
            await asyncio.sleep(3600)
            return None
        if outcome in ("http500", "http503"):
            return int(outcome[4:]), {"error": "provider trouble"}
        if outcome == "unknown":
            return 200, {"status": "unknown"}
        return 200, self._answer(rec)

    async def status(self, attempt_id):
        rec = self.attempts.get(attempt_id)
        order = rec["order"] if rec else attempt_id  # unknown: the id starts with the order's
        if rec:
            self.queries[order] = self.queries.get(order, 0) + 1
        self.calls.append({"t": time.time(), "kind": "status", "attempt_id": attempt_id,
                           "order_id": order})
        b = self.behaviour(rec["account"] if rec else "")
        await asyncio.sleep(b.get("status_latency_ms", 0) / 1000)
        if rec is None:
            return 404, {"status": "not_found"}
        override = b.get("status_outcome")
        if override == "timeout":
            await asyncio.sleep(3600)
            return None
        if override in ("http500", "http503"):
            return int(override[4:]), {"error": "provider trouble"}
        if override == "unknown":
            return 200, {"status": "unknown"}
        return 200, self._answer(rec)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--default", default="{}", help="JSON behaviour for every account")
    a = ap.parse_args()
    prov = Provider(json.loads(a.default))

    def ready(_server):
        print(f"provider listening on {a.host}:{a.port}", flush=True)

    asyncio.run(httpserve.serve(a.host, a.port, prov.handle, ready))


if __name__ == "__main__":
    main()

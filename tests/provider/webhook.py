#!/usr/bin/env python3
"""webhook.py — the operations webhook receiver of the tests, a separate process. It
records every POST with the time it arrived, and can be told to fail.

  POST /<any path>   recorded: {t, path, body}; answered 200, or the configured failure
  GET  /received?subject=S   what was recorded (only alerts whose subject_id is S)
  POST /_mode {"status": 503}   answer every POST with that status (200 = normal again);
                                 failed POSTs are recorded too, with "status"

"Down" is the process stopped: the tests kill it and start it again on the same port.

Usage: webhook.py --port PORT
"""
import argparse
import asyncio
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import httpserve  # noqa: E402


class Receiver:
    def __init__(self):
        self.received = []
        self.status = 200

    async def handle(self, req):
        if req.method == "POST" and req.path == "/_mode":
            self.status = int(req.json().get("status", 200))
            return 200, {"status": self.status}
        if req.method == "GET" and req.path == "/received":
            s = req.query.get("subject")
            return 200, [r for r in self.received
                         if s is None or (isinstance(r["body"], dict) and
                                          r["body"].get("subject_id") == s)]
        if req.method == "GET" and req.path == "/health":
            return 200, {"ok": True}
        if req.method == "POST":
            try:
                body = json.loads(req.body or b"null")
            except ValueError:
                body = req.body.decode("utf-8", "replace")
            self.received.append({"t": time.time(), "path": req.path, "body": body,
                                  "status": self.status})
            return self.status, {"ok": self.status == 200}
        return 404, {"error": f"no {req.method} {req.path}"}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    a = ap.parse_args()
    rcv = Receiver()

    def ready(_server):
        print(f"webhook receiver listening on {a.host}:{a.port}", flush=True)

    asyncio.run(httpserve.serve(a.host, a.port, rcv.handle, ready))


if __name__ == "__main__":
    main()

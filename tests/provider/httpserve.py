"""httpserve.py — a small asyncio HTTP/1.1 server for the test processes (the recharge
provider and the webhook receiver): keep-alive connections, Content-Length bodies, one
coroutine per request, so thousands of calls can wait (latency, time-outs) at once on a
single thread. Not a general server: enough for libcurl and urllib clients.

handler(req) is a coroutine returning (status, body) where body is a dict/list (sent as
JSON), bytes or str; returning None closes the connection without an answer."""
import asyncio
import json
import urllib.parse

REASONS = {200: "OK", 201: "Created", 204: "No Content", 400: "Bad Request", 404: "Not Found",
           405: "Method Not Allowed", 500: "Internal Server Error", 502: "Bad Gateway",
           503: "Service Unavailable"}


class Request:
    __slots__ = ("method", "path", "query", "headers", "body")

    def __init__(self, method, target, headers, body):
        self.method = method
        parts = urllib.parse.urlsplit(target)
        self.path = urllib.parse.unquote(parts.path)
        self.query = dict(urllib.parse.parse_qsl(parts.query))
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body or b"null")


class _Conn(asyncio.Protocol):
    def __init__(self, handler):
        self.handler = handler
        self.buf = b""
        self.transport = None
        self.queue = asyncio.Queue()
        self.task = None

    def connection_made(self, transport):
        self.transport = transport
        self.task = asyncio.get_running_loop().create_task(self._serve())

    def connection_lost(self, exc):
        self.queue.put_nowait(None)

    def data_received(self, data):
        self.buf += data
        while True:
            head_end = self.buf.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buf[:head_end].decode("latin-1").split("\r\n")
            try:
                method, target, _ = head[0].split(" ", 2)
            except ValueError:
                self.transport.close()
                return
            headers = {}
            for line in head[1:]:
                k, _, v = line.partition(":")
                headers[k.strip().lower()] = v.strip()
            n = int(headers.get("content-length", "0") or 0)
            if len(self.buf) < head_end + 4 + n:
                return
            body = self.buf[head_end + 4:head_end + 4 + n]
            self.buf = self.buf[head_end + 4 + n:]
            self.queue.put_nowait(Request(method, target, headers, body))

    async def _serve(self):
        # requests of one connection are answered in order (HTTP/1.1 without pipelining
        # surprises); different connections run concurrently
        while True:
            req = await self.queue.get()
            if req is None or self.transport.is_closing():
                return
            try:
                res = await self.handler(req)
            except Exception as e:  # noqa: BLE001 — a test server reports and goes on
                res = (500, {"error": repr(e)})
            if res is None:
                self.transport.close()
                return
            status, body = res
            if isinstance(body, (dict, list)):
                data, ctype = json.dumps(body).encode(), "application/json"
            elif isinstance(body, str):
                data, ctype = body.encode(), "text/plain; charset=utf-8"
            else:
                data, ctype = body or b"", "application/octet-stream"
            close = req.headers.get("connection", "").lower() == "close"
            head = (f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}\r\n"
                    f"Content-Type: {ctype}\r\nContent-Length: {len(data)}\r\n"
                    f"{'Connection: close' if close else 'Connection: keep-alive'}\r\n\r\n")
            if self.transport.is_closing():
                return
            self.transport.write(head.encode() + data)
            if close:
                self.transport.close()
                return


async def serve(host, port, handler, ready=None):
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Conn(handler), host, port, backlog=1024,
                                      reuse_address=True)
    if ready:
        ready(server)
    async with server:
        await server.serve_forever()

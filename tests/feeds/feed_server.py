"""A small HTTP server the hub's feed pollers read, in a thread of its own so it can be up
before the hub starts. Serves set bodies with ETags, answers 304 to a matching If-None-Match,
and can be switched to fail. Synthetic data only."""

from __future__ import annotations

import asyncio
import hashlib
import threading

from aiohttp import web


class FeedServer:
    def __init__(self) -> None:
        self.bodies: dict[str, tuple[bytes, str]] = {}
        self.fail_status: int | None = None
        self.requests: list[tuple[str, str | None, int]] = []  # path, If-None-Match, status
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def set(self, path: str, body: bytes, content_type: str) -> str:
        self.bodies[path] = (body, content_type)
        return self.etag(body)

    @staticmethod
    def etag(body: bytes) -> str:
        return '"' + hashlib.sha256(body).hexdigest()[:16] + '"'

    def of(self, path: str) -> list[tuple[str | None, int]]:
        return [(tag, status) for p, tag, status in list(self.requests) if p == path]

    async def _handle(self, request: web.Request) -> web.Response:
        tag = request.headers.get("If-None-Match")
        if self.fail_status is not None:
            self.requests.append((request.path, tag, self.fail_status))
            return web.Response(status=self.fail_status, text="down for the test")
        body, content_type = self.bodies.get(request.path, (b"", ""))
        if not content_type:
            self.requests.append((request.path, tag, 404))
            return web.Response(status=404)
        etag = self.etag(body)
        status = 304 if tag == etag else 200
        self.requests.append((request.path, tag, status))
        if status == 304:
            return web.Response(status=304, headers={"ETag": etag})
        return web.Response(body=body, headers={"ETag": etag, "Content-Type": content_type})

    def start(self, port: int) -> FeedServer:
        ready = threading.Event()

        def run() -> None:
            loop = self._loop = asyncio.new_event_loop()
            app = web.Application()
            app.router.add_get("/{path:.*}", self._handle)
            runner = web.AppRunner(app)
            loop.run_until_complete(runner.setup())
            loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
            ready.set()
            loop.run_forever()
            loop.run_until_complete(runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, name="feed-server", daemon=True)
        self._thread.start()
        assert ready.wait(10), "feed server did not start"
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

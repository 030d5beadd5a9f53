"""A real HTTP server on loopback that records what webhooks send and answers as the test scripts it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Answer:
    status: int = 200
    body: bytes = b"ok"
    delay: float = 0.0  # seconds before answering
    hold: threading.Event | None = None  # answer only once this is set


@dataclass
class Receiver:
    port: int
    received: list[Received] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)  # one per request, then 200 "ok"
    arrived: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def wait(self, count: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{count} requests not received within {timeout} s: {len(self.received)}")
            time.sleep(0.02)


@contextmanager
def running_receiver() -> Iterator[Receiver]:
    receiver = Receiver(port=0)

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            receiver.received.append(Received(self.command, self.path, dict(self.headers.items()), body))
            receiver.arrived.set()
            answer = receiver.answers.pop(0) if receiver.answers else Answer()
            if answer.hold is not None:
                answer.hold.wait(60)
            time.sleep(answer.delay)
            try:
                self.send_response(answer.status)
                self.send_header("Content-Length", str(len(answer.body)))
                self.send_header("X-Receiver", "test")
                self.end_headers()
                self.wfile.write(answer.body)
            except OSError:
                pass  # the sender went away (timed out, or was killed)

        do_GET = do_POST = _handle

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()

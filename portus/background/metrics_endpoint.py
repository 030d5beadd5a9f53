"""The worker's own /metrics: a small HTTP server on a thread, at metrics.worker_listen, behind the same token.

The worker is a separate process, often on another host or in another container than the web
server, so it cannot share gunicorn's metrics directory: it answers scrapes itself. Its counters
are its own (events applied and failed, synchronization, scans); the gauges read from the database
(inventory, backlog) are the web server's, so that they are not reported twice."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from django.conf import settings

from portus import metrics

log = logging.getLogger("portus.background")

StartResponse = Callable[..., Any]


class ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        """Scrapes every few seconds are not worth a log line each (wsgiref writes one to stderr)."""


def metrics_app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    if environ.get("PATH_INFO") != "/metrics":
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"Only /metrics here.\n"]
    if not metrics.bearer_accepted(environ.get("HTTP_AUTHORIZATION"), settings.PORTUS.metrics.token):
        start_response(
            "401 Unauthorized", [("Content-Type", "text/plain"), ("WWW-Authenticate", 'Bearer realm="Portus metrics"')]
        )
        return [b"Send Authorization: Bearer METRICS_TOKEN.\n"]
    start_response("200 OK", [("Content-Type", metrics.CONTENT_TYPE), ("Cache-Control", "no-store")])
    return [metrics.exposition()]


def parse_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"metrics.worker_listen={listen!r}: use HOST:PORT, for example 0.0.0.0:9400.")
    return host.strip("[]"), int(port)


def start_metrics_server(listen: str) -> ThreadingServer:
    """Serve /metrics at LISTEN (HOST:PORT; port 0 picks a free one) on a daemon thread; returns the server."""
    host, port = parse_listen(listen)
    server = make_server(host, port, metrics_app, server_class=ThreadingServer, handler_class=QuietHandler)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    log.info("worker metrics at http://%s:%d/metrics", host, server.server_port)
    return server

"""/health/live, /health/ready and /metrics: answered first, without sessions, host check or rate limits.

A kubelet, a load balancer or Prometheus asks by the pod's or host's address, which is not among
ALLOWED_HOSTS, and asks every few seconds: these answers cost one database round trip at most (the
metrics' inventory a few counts) and never read a credential other than the metrics token."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse

from portus import metrics
from portus.server import readiness
from portus.server.collectors import DatabaseCollector

LIVE_PATH = "/health/live"
READY_PATH = "/health/ready"
METRICS_PATH = "/metrics"
PROBE_PATHS = (LIVE_PATH, READY_PATH)
SERVER_ROUTES = {LIVE_PATH: "health/live", READY_PATH: "health/ready", METRICS_PATH: "metrics"}

Handler = Callable[[HttpRequest], HttpResponseBase]


def live() -> JsonResponse:
    """The process answers: nothing else is asked, so a database outage never restarts every pod."""
    return JsonResponse({"live": True})


def ready() -> JsonResponse:
    """Whether this process should get traffic: database reachable, migrations applied, signing key loaded."""
    checks = readiness.checks()
    failing = {name: message for name, (ok, message) in checks.items() if not ok}
    body = {"ready": not failing, "checks": {name: ok for name, (ok, _) in checks.items()}}
    if failing:
        body["message"] = " ".join(failing.values())
    response = JsonResponse(body, status=503 if failing else 200)
    response["Cache-Control"] = "no-store"
    return response


def metrics_page(request: HttpRequest) -> HttpResponse:
    config = settings.PORTUS.metrics
    if not config.enabled:
        return HttpResponse(
            "Metrics are switched off: set metrics.enabled (PORTUS_METRICS_ENABLED=true).\n",
            status=404,
            content_type="text/plain",
        )
    if not metrics.bearer_accepted(request.META.get("HTTP_AUTHORIZATION"), config.token):
        response = HttpResponse("Send Authorization: Bearer METRICS_TOKEN.\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="Portus metrics"'
        return response
    response = HttpResponse(metrics.exposition([DatabaseCollector()]), content_type=metrics.CONTENT_TYPE)
    response["Cache-Control"] = "no-store"
    return response


def server_endpoints_first(get_response: Handler) -> Handler:
    def middleware(request: HttpRequest) -> HttpResponseBase:
        path = request.path_info
        if path not in SERVER_ROUTES:
            return get_response(request)
        if request.method not in ("GET", "HEAD"):
            response = HttpResponse(status=405)
            response["Allow"] = "GET, HEAD"
            return response
        if path == LIVE_PATH:
            return live()
        if path == READY_PATH:
            return ready()
        return metrics_page(request)

    return middleware

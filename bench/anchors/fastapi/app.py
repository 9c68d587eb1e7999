"""Benchmark anchor: the seed's stack. FastAPI + prometheus_client serving monlab's `/random`
contract (`{"value", "delay_seconds"}` after a delay), with the same golden signals: a request
counter by method, route and code, a duration histogram, an in-flight gauge and a histogram
of the value, on `/metrics`. The middleware is the usual `@app.middleware("http")` one.

Run by bench/run with uvicorn (uvloop, httptools):
    ANCHOR_DELAY=exp:0.05 uvicorn app:app --workers 2 ...
ANCHOR_DELAY is `0`, `const:SECONDS` or `exp:MEAN_SECONDS`. With PROMETHEUS_MULTIPROC_DIR set,
prometheus_client runs in its multiprocess mode and `/metrics` sums every worker's files;
without it each worker keeps and exposes only its own counts.
"""

import asyncio
import os
import random
import time

from fastapi import FastAPI, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import REGISTRY, multiprocess

MULTIPROCESS = "PROMETHEUS_MULTIPROC_DIR" in os.environ

DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
VALUE_BUCKETS = tuple(50 + 2 * i for i in range(51))

REQUESTS = Counter(
    "anchor_http_requests", "HTTP requests answered", ["method", "route", "code"]
)
DURATION = Histogram(
    "anchor_http_request_duration_seconds",
    "Time from request to response",
    ["method", "route"],
    buckets=DURATION_BUCKETS,
)
IN_FLIGHT = Gauge(
    "anchor_http_requests_in_flight",
    "HTTP requests being served now",
    ["route"],
    multiprocess_mode="livesum",
)
VALUE = Histogram("anchor_random_value", "Values returned by /random", buckets=VALUE_BUCKETS)


def _delay():
    spec = os.environ.get("ANCHOR_DELAY", "0")
    if spec == "0":
        return lambda: 0.0
    kind, _, arg = spec.partition(":")
    if kind == "const":
        value = float(arg)
        return lambda: value
    if kind == "exp":
        rate = 1.0 / float(arg)
        return lambda: random.expovariate(rate)
    raise SystemExit(f"bad ANCHOR_DELAY {spec!r}: want 0, const:SECONDS or exp:MEAN_SECONDS")


draw_delay = _delay()
app = FastAPI()


@app.middleware("http")
async def golden_signals(request: Request, call_next):
    start = time.perf_counter()
    # The route template is known only after routing; these routes have no parameters, so
    # the path names its template, and any other path counts as unmatched (bounded labels).
    path = request.url.path
    path = path if path in ROUTES else "unmatched"
    IN_FLIGHT.labels(path).inc()
    code = 500
    try:
        response = await call_next(request)
        code = response.status_code
        return response
    finally:
        route = request.scope.get("route")
        route = route.path if route is not None else "unmatched"
        DURATION.labels(request.method, route).observe(time.perf_counter() - start)
        REQUESTS.labels(request.method, route, str(code)).inc()
        IN_FLIGHT.labels(path).dec()


@app.get("/random")
async def random_value():
    delay = draw_delay()
    value = random.gauss(100.0, 15.0)
    if delay > 0:
        await asyncio.sleep(delay)
    VALUE.observe(value)
    return {"value": value, "delay_seconds": delay}


@app.get("/metrics")
def metrics():
    if MULTIPROCESS:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


ROUTES = frozenset(r.path for r in app.routes)

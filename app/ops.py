"""Operations endpoints: /healthz, /metrics (Prometheus text) and /openapi.json."""

from __future__ import annotations

import time

from flask import Flask, Response, g, jsonify, request
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from pydantic import BaseModel
from sqlalchemy import text

from app import openapi
from app.openapi import api_route


class HealthCheck(BaseModel):
    ok: bool
    message: str | None = None


class Health(BaseModel):
    status: str
    database: HealthCheck
    redis: HealthCheck
    jobs: str


def init_app(app: Flask) -> None:
    registry = CollectorRegistry()
    requests_total = Counter(
        "loyalty_http_requests_total", "HTTP requests answered", ["method", "endpoint", "status"],
        registry=registry,
    )
    latency = Histogram(
        "loyalty_http_request_seconds", "Time to answer an HTTP request", ["endpoint"],
        registry=registry, buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
    )
    app.extensions["metrics_registry"] = registry

    @app.before_request
    def _start_timer() -> None:
        g.started_at = time.perf_counter()

    @app.after_request
    def _count(response):
        endpoint = request.endpoint or "unmatched"
        requests_total.labels(request.method, endpoint, str(response.status_code)).inc()
        started = getattr(g, "started_at", None)
        if started is not None:
            latency.labels(endpoint).observe(time.perf_counter() - started)
        return response

    @api_route(app, "/healthz", summary="Database and Redis reachability", tags=["operations"],
               response=Health, responses={503: "a dependency is down"})
    def healthz():
        from app.jobs.queues import runner
        from app.web import database

        db_check = HealthCheck(ok=True)
        try:
            with database().engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:
            db_check = HealthCheck(ok=False, message=exc.__class__.__name__)
        jobs = runner()
        if jobs.inline:
            redis_check = HealthCheck(ok=True, message="not configured: jobs run inline")
        else:
            try:
                jobs.redis.ping()
                redis_check = HealthCheck(ok=True)
            except Exception as exc:
                redis_check = HealthCheck(ok=False, message=exc.__class__.__name__)
        healthy = db_check.ok and redis_check.ok
        body = Health(
            status="ok" if healthy else "unavailable",
            database=db_check,
            redis=redis_check,
            jobs="inline" if jobs.inline else "rq",
        )
        return jsonify(body.model_dump()), 200 if healthy else 503

    @api_route(app, "/metrics", summary="Prometheus metrics", tags=["operations"],
               content_type="text/plain")
    def metrics():
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)

    @api_route(app, "/openapi.json", summary="This OpenAPI document", tags=["operations"])
    def openapi_json():
        return jsonify(openapi.build_spec(app))

"""Operations: health, metrics, error shapes, request ids in logs, and the Procfile's
worker and cron processes against real Redis and PostgreSQL."""

from __future__ import annotations

import io
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from redis import Redis
from sqlalchemy import text

from app import create_app
from app.config import Settings
from app.jobs import queues

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _inline_jobs_afterwards():
    """An app built with a Redis URL reconfigures the process-wide job runner; restore it."""
    yield
    queues.configure(None)


def make_app(**settings):
    db = settings.pop("db", None)
    flask_app = create_app(Settings(app_env="test", **settings), db=db)
    flask_app.testing = True
    return flask_app


# -- /healthz ------------------------------------------------------------------------------


def test_healthz_reports_database_and_redis(pg_url, pg_db, redis_url):
    client = make_app(database_url=pg_url, redis_url=redis_url, db=pg_db).test_client()
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] is True
    assert body["redis"] == {"ok": True, "message": None}
    assert body["jobs"] == "rq"


def test_healthz_without_redis_says_jobs_run_inline(client):
    body = client.get("/healthz").get_json()
    assert body["status"] == "ok" and body["jobs"] == "inline"


def test_healthz_is_503_when_redis_is_down(pg_url, pg_db):
    client = make_app(database_url=pg_url, redis_url="redis://127.0.0.1:1/0", db=pg_db).test_client()
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["database"]["ok"] is True
    assert body["redis"]["ok"] is False and body["redis"]["message"]


def test_healthz_is_503_when_the_database_is_unreachable():
    flask_app = make_app(database_url="postgresql+psycopg://postgres@127.0.0.1:1/nothing")
    response = flask_app.test_client().get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "unavailable" and body["database"]["ok"] is False
    flask_app.extensions["db"].dispose()


# -- /metrics ------------------------------------------------------------------------------


def requests_counted(client, endpoint: str, status: str) -> float:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        if family.name == "loyalty_http_requests":
            return sum(
                s.value for s in family.samples
                if s.name.endswith("_total")
                and s.labels.get("endpoint") == endpoint and s.labels.get("status") == status
            )
    return 0.0


def test_metrics_count_a_request_just_made(client):
    before = requests_counted(client, "healthz", "200")
    client.get("/healthz")
    client.get("/healthz")
    assert requests_counted(client, "healthz", "200") == before + 2
    missing_before = requests_counted(client, "unmatched", "404")
    client.get("/no/such/page")
    assert requests_counted(client, "unmatched", "404") == missing_before + 1


# -- errors and request ids ----------------------------------------------------------------


@pytest.mark.parametrize("method,path,status", [
    ("GET", "/no/such/page", 404),
    ("GET", "/admin/api/v1/nothing-here", 404),
    ("POST", "/healthz", 405),
    ("DELETE", "/metrics", 405),
])
def test_unknown_routes_and_methods_answer_json(client, method, path, status):
    response = client.open(path, method=method)
    assert response.status_code == status
    assert response.is_json
    error = response.get_json()["error"]
    assert error["code"] and error["message"]
    if status == 405:
        assert "GET" in response.headers["Allow"]


def test_request_id_is_echoed_or_made_up(client):
    echoed = client.get("/healthz", headers={"X-Request-Id": "req-abc.123"})
    assert echoed.headers["X-Request-Id"] == "req-abc.123"
    made_up = client.get("/healthz", headers={"X-Request-Id": "bad id with spaces"})
    assert re.fullmatch(r"[0-9a-f]{32}", made_up.headers["X-Request-Id"])
    assert client.get("/healthz").headers["X-Request-Id"] != made_up.headers["X-Request-Id"]


def test_log_lines_carry_the_request_id_and_never_a_secret(app):
    log = logging.getLogger("loyalty.test.ops")

    def noisy_view():
        log.warning("calling the store with token=abc and secret: hunter2")
        return {"done": True}

    app.add_url_rule("/_test/log", view_func=noisy_view)
    handler = next(h for h in logging.getLogger().handlers if getattr(h, "_loyalty", False))
    stream = io.StringIO()
    previous = handler.setStream(stream)
    try:
        response = app.test_client().get("/_test/log", headers={"X-Request-Id": "req-log-42"})
    finally:
        handler.setStream(previous)
    assert response.status_code == 200
    line = next(line for line in stream.getvalue().splitlines() if "calling the store" in line)
    assert "[req-log-42]" in line
    assert "token=[redacted]" in line and "secret: [redacted]" in line
    assert "abc" not in line and "hunter2" not in line


# -- Procfile processes --------------------------------------------------------------------


def procfile() -> dict[str, str]:
    lines = (REPO / "Procfile").read_text().splitlines()
    return dict(line.split(":", 1) for line in lines if line.strip() and not line.startswith("#"))


def test_procfile_worker_listens_on_every_queue():
    worker = procfile()["worker"].split()
    assert worker[:2] == ["rq", "worker"]
    assert set(queues.QUEUES) <= set(worker)


def test_cron_schedule_loads_into_rqs_scheduler(redis_url, monkeypatch):
    from rq.cron import CronScheduler

    from app.jobs.cron import SCHEDULE

    cron_line = procfile()["cron"].split()
    config_path = cron_line[cron_line.index("cron") + 1]
    monkeypatch.chdir(REPO)
    scheduler = CronScheduler(connection=Redis.from_url(redis_url))
    scheduler.load_config_from_file(config_path)
    registered = sorted((job.func_name, job.queue_name, job.cron) for job in scheduler.get_jobs())
    assert registered == sorted((p.func, p.queue, p.cron) for p in SCHEDULE)
    assert all(job.next_enqueue_time is not None for job in scheduler.get_jobs())


def run_worker_burst(redis_url: str, database_url: str) -> subprocess.CompletedProcess:
    """The Procfile's worker, in burst mode: a plain `rq worker` finds settings and the DB."""
    worker = procfile()["worker"].split()
    queue_names = [w for w in worker[2:] if not w.startswith("-") and not w.startswith("$")]
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url, "APP_ENV": "test"}
    rq = Path(sys.executable).parent / "rq"
    return subprocess.run(
        [str(rq), "worker", "--burst", "--url", redis_url, *queue_names],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=120,
    )


def test_scheduled_ledger_audit_runs_in_a_real_worker(redis_url, pg_url, pg_db, factory):
    from rq.cron import CronScheduler

    shop = factory.shop()
    customer = factory.customer(shop)
    factory.points(shop, customer, 120, kind="earn_order")
    connection = Redis.from_url(redis_url)
    scheduler = CronScheduler(connection=connection)
    scheduler.load_config_from_file("app.jobs.cron")
    audit = next(j for j in scheduler.get_jobs() if j.func_name == "app.jobs.maintenance.audit_ledger")

    good = audit.enqueue(connection)
    result = run_worker_burst(redis_url, pg_url)
    good.refresh()
    assert good.get_status() == "finished", result.stderr[-2000:]
    assert good.return_value() == {"violations": 0, "shop_id": None}

    with pg_db.transaction() as s:
        s.execute(text("UPDATE customers SET points_balance = points_balance + 1 WHERE id = :id"),
                  {"id": customer.id})
    bad = audit.enqueue(connection)
    result = run_worker_burst(redis_url, pg_url)
    bad.refresh()
    assert bad.get_status() == "failed"
    assert "balance_equals_posted_sum" in (bad.latest_result().exc_string or "")

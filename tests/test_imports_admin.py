"""Imports through the admin JSON API: the upload runs as an RQ job on real Redis (a
worker in burst mode), reports its progress, and is scoped to the token's shop; the ledger
download streams CSV."""

from __future__ import annotations

import csv
import io

import pytest
from redis import Redis
from rq import Queue, SimpleWorker
from rq.job import Job
from rq.registry import FinishedJobRegistry
from sqlalchemy import func, select

from app.imports import balances, jobs
from app.jobs import queues
from app.models import BalanceImport, Customer

API = "/admin/api/v1"


def upload(client, token, text: str, **form):
    data = {"file": (io.BytesIO(text.encode()), "balances.csv"), **form}
    return client.post(
        f"{API}/imports", data=data, content_type="multipart/form-data",
        headers={"Authorization": f"Bearer {token}"},
    )


def get(client, token, path):
    return client.get(API + path, headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
def redis_app(pg_db, pg_url, redis_url):
    """The app with REDIS_URL: jobs go to Redis and wait for a worker."""
    from app import create_app
    from app.config import Settings

    flask_app = create_app(
        Settings(app_env="test", database_url=pg_url, redis_url=redis_url), db=pg_db
    )
    flask_app.testing = True
    redis = Redis.from_url(redis_url)
    yield flask_app, redis
    redis.close()
    queues.configure(None)


def work(redis) -> None:
    SimpleWorker([Queue(n, connection=redis) for n in queues.QUEUES], connection=redis).work(burst=True)


def test_upload_runs_as_a_job_and_reports_progress(redis_app, factory, pg_db, monkeypatch):
    flask_app, redis = redis_app
    client = flask_app.test_client()
    shop = factory.shop()
    _, token = factory.staff(shop, role="admin")
    text = "email,points\n" + "".join(f"s{i}@example.com,{10 + i}\n" for i in range(5))
    monkeypatch.setattr(balances, "CHUNK", 2)
    saved: list[int] = []
    real_save = jobs._save

    def spy(db, import_id, **values):
        if "processed_rows" in values:
            saved.append(values["processed_rows"])
        real_save(db, import_id, **values)

    monkeypatch.setattr(jobs, "_save", spy)

    r = upload(client, token, text)
    assert r.status_code == 202, r.get_json()
    body = r.get_json()
    assert (body["status"], body["progress_percent"], body["applied"]) == ("queued", 0, False)
    with pg_db.session() as s:  # queued, not run: nothing changed yet
        assert s.scalar(select(func.count()).select_from(Customer).where(Customer.shop_id == shop.id)) == 0

    work(redis)

    # Progress was written after every chunk of 2, then the final count.
    assert saved == [0, 2, 4, 5, 5]
    done = get(client, token, f"/imports/{body['id']}").get_json()
    assert done["status"] == "done" and done["applied"] is True
    assert (done["total_rows"], done["processed_rows"], done["progress_percent"]) == (5, 5, 100)
    assert (done["changed_rows"], done["created_customers"], done["errors"]) == (5, 5, [])
    assert done["detected_format"] == "smile"
    finished = FinishedJobRegistry("low", connection=redis).get_job_ids()
    assert len(finished) == 1
    job = Job.fetch(finished[0], connection=redis)
    assert job.meta["progress"] == {"processed": 5, "total": 5}
    assert job.timeout == jobs.JOB_OPTIONS["job_timeout"]  # not RQ's 180 s default
    with pg_db.session() as s:
        got = {c.email: c.points_balance for c in s.scalars(select(Customer).where(Customer.shop_id == shop.id))}
    assert got == {f"s{i}@example.com": 10 + i for i in range(5)}


def test_dry_run_upload_reports_every_bad_row_and_changes_nothing(redis_app, factory, pg_db):
    flask_app, redis = redis_app
    client = flask_app.test_client()
    shop = factory.shop()
    _, token = factory.staff(shop, role="owner")
    r = upload(client, token, "email,points\nok@example.com,5\nnope,3\nok@example.com,7\n", dry_run="true")
    assert r.status_code == 202
    work(redis)
    done = get(client, token, f"/imports/{r.get_json()['id']}").get_json()
    assert done["status"] == "done" and done["dry_run"] is True and done["applied"] is False
    assert [(e["line"], e["code"]) for e in done["errors"]] == [(3, "bad_email"), (4, "duplicate_row")]
    with pg_db.session() as s:
        assert s.scalar(select(func.count()).select_from(Customer).where(Customer.shop_id == shop.id)) == 0


def test_without_redis_the_import_runs_inline_and_twice_changes_nothing(client, factory, pg_db):
    shop = factory.shop()
    _, token = factory.staff(shop, role="admin")
    text = "email,points\na@example.com,40\n"
    first = upload(client, token, text).get_json()
    assert first["status"] == "done" and first["changed_rows"] == 1
    second = upload(client, token, text).get_json()
    assert second["status"] == "done" and (second["changed_rows"], second["unchanged_rows"]) == (0, 1)
    listed = get(client, token, "/imports").get_json()
    assert [i["id"] for i in listed["data"]] == [second["id"], first["id"]]


@pytest.mark.parametrize(
    ("form", "code"),
    [
        ({}, 422),  # no file
        ({"file": (io.BytesIO(b""), "x.csv")}, 422),
        ({"file": (io.BytesIO("a,b\n".encode("utf-16")), "x.csv")}, 422),
        ({"file": (io.BytesIO(b"email,points\n"), "x.csv"), "format": "acme"}, 422),
        ({"file": (io.BytesIO(b"email,points\n"), "x.csv"), "dry_run": "maybe"}, 422),
    ],
)
def test_bad_uploads_get_a_json_error(client, factory, form, code):
    shop = factory.shop()
    _, token = factory.staff(shop, role="admin")
    r = client.post(f"{API}/imports", data=form, content_type="multipart/form-data",
                    headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == code
    assert set(r.get_json()["error"]) >= {"code", "message"}


def test_roles_and_shop_scoping(client, factory, pg_db):
    ours, theirs = factory.shop(), factory.shop()
    _, support = factory.staff(ours, role="support")
    _, admin = factory.staff(ours, role="admin")
    _, other_admin = factory.staff(theirs, role="admin")
    assert upload(client, support, "email,points\na@example.com,1\n").status_code == 403
    assert get(client, support, "/exports/ledger.csv").status_code == 403
    created = upload(client, admin, "email,points\na@example.com,1\n").get_json()
    assert get(client, other_admin, f"/imports/{created['id']}").status_code == 404
    assert get(client, other_admin, "/imports").get_json()["data"] == []
    with pg_db.session() as s:
        record = s.get(BalanceImport, created["id"])
        assert record.shop_id == ours.id


def test_ledger_download_streams_this_shops_entries(client, factory):
    ours, theirs = factory.shop(), factory.shop()
    _, token = factory.staff(ours, role="admin")
    c = factory.customer(ours, platform_id="5", email="x@example.com")
    factory.points(ours, c, 12)
    factory.points(theirs, factory.customer(theirs), 99)
    r = get(client, token, "/exports/ledger.csv")
    assert r.status_code == 200
    assert r.mimetype == "text/csv"
    assert "attachment" in r.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(r.get_data(as_text=True))))
    assert [(row["customer_platform_id"], row["customer_email"], row["points"]) for row in rows] == [
        ("5", "x@example.com", "12")
    ]

"""Import and export in the console: upload with CSRF, dry-run report, run, progress,
ledger download; admins only."""

from __future__ import annotations

import io
import re

from console_helpers import csrf_token, sign_in, staff_with_password
from sqlalchemy import select

from app.models import BalanceImport, Customer


def signed_in(app, factory, pg_db, shop, role="admin"):
    user = staff_with_password(factory, pg_db, shop, role=role)
    client = app.test_client()
    assert sign_in(client, user.email).status_code == 302
    return client


def upload(client, text: str, dry_run: bool = True, with_token: bool = True):
    data = {"file": (io.BytesIO(text.encode()), "points.csv"), "format": "auto"}
    if dry_run:
        data["dry_run"] = "true"
    if with_token:
        data["csrf_token"] = csrf_token(client, "/admin/imports")
    return client.post("/admin/imports", data=data, content_type="multipart/form-data")


def test_dry_run_then_import_from_the_report(app, factory, pg_db):
    shop = factory.shop()
    client = signed_in(app, factory, pg_db, shop)
    r = upload(client, "email,points\na@example.com,10\nb@example.com,20\n")
    assert r.status_code == 303
    page = client.get(r.headers["Location"])
    html = page.get_data(as_text=True)
    assert "Refresh" not in page.headers  # jobs run inline here: already done
    assert 'data-status="done"' in html and 'value="100"' in html
    assert "Balances that would change" in html
    with pg_db.session() as s:
        assert s.scalars(select(Customer).where(Customer.shop_id == shop.id)).all() == []
    import_id = int(re.search(r"/admin/imports/(\d+)", r.headers["Location"]).group(1))
    token = csrf_token(client, f"/admin/imports/{import_id}")
    applied = client.post(f"/admin/imports/{import_id}/apply", data={"csrf_token": token})
    assert applied.status_code == 303
    assert "Balances changed" in client.get(applied.headers["Location"]).get_data(as_text=True)
    with pg_db.session() as s:
        got = {c.email: c.points_balance for c in s.scalars(select(Customer).where(Customer.shop_id == shop.id))}
    assert got == {"a@example.com": 10, "b@example.com": 20}


def test_bad_rows_are_listed_with_their_lines(app, factory, pg_db):
    shop = factory.shop()
    client = signed_in(app, factory, pg_db, shop)
    r = upload(client, "email,points\nok@example.com,1\nbroken,2\nok@example.com,3\n", dry_run=False)
    html = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "2 bad rows (nothing was changed)" in html
    assert re.search(r"<td class=\"num\">3</td><td><code>bad_email</code>", html)
    assert re.search(r"<td class=\"num\">4</td><td><code>duplicate_row</code>", html)
    assert 'id="apply-import"' not in html


def test_a_running_import_page_refreshes_itself(app, factory, pg_db):
    shop = factory.shop()
    client = signed_in(app, factory, pg_db, shop)
    with pg_db.transaction() as s:
        record = BalanceImport(shop_id=shop.id, filename="x.csv", file_sha256="0" * 64, content="email,points\n",
                               requested_format="auto", dry_run=False, status="running", total_rows=10,
                               processed_rows=4, changed_rows=0, unchanged_rows=0, created_customers=0, errors=[])
        s.add(record)
    page = client.get(f"/admin/imports/{record.id}")
    assert page.headers["Refresh"] == "2"
    assert 'value="40"' in page.get_data(as_text=True)


def test_upload_without_csrf_token_is_refused(app, factory, pg_db):
    shop = factory.shop()
    client = signed_in(app, factory, pg_db, shop)
    assert upload(client, "email,points\na@example.com,1\n", with_token=False).status_code == 400
    with pg_db.session() as s:
        assert s.scalars(select(BalanceImport)).all() == []


def test_support_staff_cannot_import_and_other_shops_imports_are_hidden(app, factory, pg_db):
    ours, theirs = factory.shop(), factory.shop()
    support = signed_in(app, factory, pg_db, ours, role="support")
    assert support.get("/admin/imports").status_code == 403
    admin = signed_in(app, factory, pg_db, theirs)
    r = upload(admin, "email,points\na@example.com,1\n")
    import_id = int(re.search(r"/admin/imports/(\d+)", r.headers["Location"]).group(1))
    other = signed_in(app, factory, pg_db, ours)
    assert other.get(f"/admin/imports/{import_id}").status_code == 404


def test_ledger_download(app, factory, pg_db):
    shop = factory.shop()
    c = factory.customer(shop, platform_id="31", email="l@example.com")
    factory.points(shop, c, 9)
    client = signed_in(app, factory, pg_db, shop)
    r = client.get("/admin/imports/ledger.csv")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    assert r.get_data(as_text=True).splitlines()[1].split(",")[4:7] == ["31", "l@example.com", "9"]

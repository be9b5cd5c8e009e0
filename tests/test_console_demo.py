"""`loyalty demo` prints the console's URL and fresh credentials that sign in (on SQLite,
as `make demo` runs it)."""

from __future__ import annotations

import re

import webhook_support
from cli_helpers import cli_env, invoke
from console_helpers import cheap_password_hashing, sign_in  # noqa: F401 (autouse fixture)

from app.config import Settings
from app.db import Database
from app.migrate import upgrade

restore_runtime = webhook_support.restore_runtime  # a fixture: apps built here reconfigure the runtime

def test_demo_prints_console_credentials_that_work(tmp_path, restore_runtime):
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    upgrade(url)
    env = cli_env(url)
    first = invoke(["demo"], env)
    assert first.exit_code == 0, first.output
    assert "admin console: http://127.0.0.1:5000/admin/" in first.output
    logins = dict(re.findall(r"^  owner: (\S+) / (\S+)$", first.output, re.M))
    assert list(logins) == ["owner@demo-store.example"]
    password = logins["owner@demo-store.example"]
    assert re.search(r"^  support: support@demo-store.example / \S+$", first.output, re.M)

    second = invoke(["demo"], env)  # a new run, new passwords: the old one stops working
    new_password = re.search(r"^  owner: \S+ / (\S+)$", second.output, re.M).group(1)
    assert new_password != password

    from app import create_app

    db = Database(url)
    try:
        app = create_app(Settings(app_env="test", database_url=url), db=db)
        client = app.test_client()
        assert sign_in(client, "owner@demo-store.example", password).status_code == 401
        assert sign_in(client, "owner@demo-store.example", new_password).status_code == 302
        page = client.get("/admin/customers").get_data(as_text=True)
        assert "Ava Thompson" in page or "Thompson" in page
    finally:
        db.dispose()

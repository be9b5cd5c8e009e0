"""`loyalty import-balances` and `loyalty export-ledger` as an operator runs them."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import threading
from pathlib import Path

import pytest
from cli_helpers import REPO, cli_env, invoke, loyalty_command
from sqlalchemy import select

from app.config import Settings
from app.crypto import keyring
from app.models import Customer, LedgerEntry

DATA = Path(__file__).resolve().parent / "data" / "imports"


@pytest.fixture(autouse=True)
def _restore_runtime():
    yield
    from app.jobs import queues

    keyring.configure(Settings().encryption_keys)
    queues.configure(None)


def balances(db, shop_id):
    with db.session() as s:
        return {
            c.email.lower(): c.points_balance
            for c in s.scalars(select(Customer).where(Customer.shop_id == shop_id))
            if c.email
        }


def test_dry_run_lists_bad_rows_exits_1_and_changes_nothing(factory, pg_db, pg_url):
    shop = factory.shop()
    r = invoke(["import-balances", "--shop", str(shop.id), str(DATA / "bad_rows.csv"), "--dry-run"], cli_env(pg_url))
    assert r.exit_code == 1
    lines = [line for line in r.stdout.splitlines() if line.startswith("line ")]
    assert [line.split(":")[0] for line in lines] == [f"line {n}" for n in (3, 4, 5, 6, 7, 8, 9)]
    assert "line 4: negative_points:" in r.stdout
    assert balances(pg_db, shop.id) == {}


def test_import_then_reimport_changes_nothing(factory, pg_db, pg_url):
    shop = factory.shop()
    args = ["import-balances", "--shop", str(shop.id), str(DATA / "yotpo_customers.csv")]
    r = invoke(args, cli_env(pg_url))
    assert r.exit_code == 0, r.output
    assert "changed 2 balances (+53870 points), 1 unchanged, 3 created" in r.stdout
    assert "yotpo layout, 3 customers" in r.stderr
    expected = {"ada.lovelace@example.com": 1250, "grace.hopper@example.com": 0, "alan.turing@example.com": 52620}
    assert balances(pg_db, shop.id) == expected
    again = invoke(args, cli_env(pg_url))
    assert again.exit_code == 0
    assert "changed 0 balances (+0 points), 3 unchanged, 0 created" in again.stdout
    assert balances(pg_db, shop.id) == expected


def test_dry_run_of_a_good_file_says_what_would_change(factory, pg_db, pg_url):
    shop = factory.shop()
    r = invoke(
        ["import-balances", "--shop", str(shop.id), str(DATA / "smile_points.csv"), "--dry-run", "--format", "smile"],
        cli_env(pg_url),
    )
    assert r.exit_code == 0, r.output
    assert "dry run: 4 customers: would change 3 balances (+53945 points), 1 unchanged, 4 to create" in r.stdout
    assert balances(pg_db, shop.id) == {}


def test_unknown_shop_is_one_line_error(pg_db, pg_url):
    r = invoke(["import-balances", "--shop", "999999", str(DATA / "smile_points.csv")], cli_env(pg_url))
    assert r.exit_code == 1
    assert "shop 999999 not found" in r.output


def test_progress_bar_is_drawn_on_a_terminal(factory, pg_db, pg_url, tmp_path):
    """The real console script with stderr on a pseudo-terminal: click draws the bar."""
    shop = factory.shop()
    big = tmp_path / "many.csv"
    big.write_text("email,points\n" + "".join(f"s{i}@example.com,{i}\n" for i in range(450)))
    master, slave = os.openpty()
    env = {k: v for k, v in os.environ.items() if k not in cli_env(pg_url)}
    env.update(cli_env(pg_url), COLUMNS="100")
    chunks: list[bytes] = []

    def drain():
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    proc = subprocess.run(
        [*loyalty_command(), "import-balances", "--shop", str(shop.id), str(big)],
        env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=slave, timeout=120, check=False,
    )
    os.close(slave)
    reader.join(timeout=10)
    os.close(master)
    screen = b"".join(chunks).decode("utf-8", "replace")
    assert proc.returncode == 0, screen
    assert "Importing" in screen
    assert "200/450" in screen and "450/450" in screen  # drawn after each chunk of 200
    assert b"changed 449 balances" in proc.stdout


def test_export_ledger_to_stdout_and_file(factory, pg_db, pg_url, tmp_path):
    shop = factory.shop()
    c = factory.customer(shop, platform_id="88", email="=cmd@example.com")
    factory.points(shop, c, 25, reason="=HYPERLINK(\"x\")")
    factory.points(shop, c, -5)
    r = invoke(["export-ledger", "--shop", str(shop.id)], cli_env(pg_url))
    assert r.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert [(row["customer_platform_id"], int(row["points"]), row["status"]) for row in rows] == [
        ("88", 25, "posted"), ("88", -5, "posted"),
    ]
    # Text a spreadsheet would run as a formula is defused; numbers stay numbers.
    assert rows[0]["reason"].startswith("'=") and rows[0]["customer_email"] == "'=cmd@example.com"
    printed = r.stdout
    out = tmp_path / "ledger.csv"
    r = invoke(["export-ledger", "--shop", str(shop.id), "--output", str(out)], cli_env(pg_url))
    assert r.exit_code == 0
    assert out.read_bytes().decode("utf-8").replace("\r\n", "\n") == printed


def test_export_then_import_into_another_shop_gives_the_same_balances(factory, pg_db, pg_url, tmp_path):
    source, target = factory.shop(), factory.shop()
    a = factory.customer(source, platform_id="1", email="a@example.com")
    b = factory.customer(source, platform_id="2", email="b@example.com")
    c = factory.customer(source, platform_id="3", email=None)
    factory.points(source, a, 100)
    factory.points(source, a, -30, kind="redeem")
    factory.points(source, b, 7)
    factory.points(source, c, 12)
    from app.loyalty import ledger

    with pg_db.transaction() as s:  # a pending entry is not part of the balance
        ledger.post(s, shop_id=source.id, customer_id=b.id, points=50, kind="earn_order",
                    idempotency_key="pending:b", pending=True)
    out = tmp_path / "ledger.csv"
    assert invoke(["export-ledger", "--shop", str(source.id), "--output", str(out)], cli_env(pg_url)).exit_code == 0
    r = invoke(["import-balances", "--shop", str(target.id), str(out)], cli_env(pg_url))
    assert r.exit_code == 0, r.output
    with pg_db.session() as s:
        def by_platform(shop_id):
            return {
                cu.platform_id: (cu.email, cu.points_balance)
                for cu in s.scalars(select(Customer).where(Customer.shop_id == shop_id))
            }

        assert by_platform(target.id) == by_platform(source.id)
        kinds = set(s.scalars(select(LedgerEntry.kind).where(LedgerEntry.shop_id == target.id)))
        assert kinds == {"import"}

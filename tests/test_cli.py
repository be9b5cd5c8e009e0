"""The `loyalty` command as an operator uses it, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import uuid

import pytest
from cli_helpers import cli_env, invoke, run
from cryptography.fernet import Fernet
from sqlalchemy import func, select, text

from app.config import Settings
from app.crypto import keyring
from app.db import Database
from app.loyalty import ledger
from app.migrate import upgrade
from app.models import Customer, Shop
from app.staff import authenticate


@pytest.fixture(autouse=True)
def _restore_runtime():
    """Commands configure the process-wide keyring and job runner; put them back."""
    yield
    from app.jobs import queues

    keyring.configure(Settings().encryption_keys)
    queues.configure(None)


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'cli.db'}"


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request, tmp_path):
    """A migrated database on each backend; PostgreSQL is emptied after the test."""
    if request.param == "postgres":
        request.getfixturevalue("pg_db")
        return request.getfixturevalue("pg_url")
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    upgrade(url)
    return url


@pytest.fixture
def db(database_url):
    database = Database(database_url)
    yield database
    database.dispose()


def add_shopify(env, domain=None, token="shpat_secret_value_123"):
    domain = domain or f"cli-{uuid.uuid4().hex[:8]}.myshopify.com"
    result = invoke(["shop", "add", "shopify", "--domain", domain, "--token", token], env)
    assert result.exit_code == 0, result.output
    return int(result.output.strip())


# -- db upgrade ---------------------------------------------------------------------------


@pytest.mark.parametrize("args", [["--help"], ["shop", "--help"], ["staff", "add", "--help"],
                                  ["winback", "run", "--help"], ["import-balances", "--help"]])
def test_help_of_every_level_exits_zero_and_shows_usage(args, sqlite_url):
    result = run(args, cli_env(sqlite_url))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: loyalty") and "Error" not in result.stderr


def test_db_upgrade_creates_the_schema_and_can_run_again(sqlite_url):
    env = cli_env(sqlite_url)
    first = run(["db", "upgrade"], env)
    assert first.returncode == 0, first.stderr
    again = run(["db", "upgrade"], env)
    assert again.returncode == 0, again.stderr
    database = Database(sqlite_url)
    with database.session() as s:
        tables = {row[0] for row in s.execute(text("SELECT name FROM sqlite_master WHERE type='table'"))}
    database.dispose()
    assert {"shops", "customers", "ledger_entries", "staff_users", "orders"} <= tables


def test_db_upgrade_on_postgres(pg_url, pg_db):
    result = run(["db", "upgrade"], cli_env(pg_url))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("database at ")


def test_a_command_before_db_upgrade_says_what_to_do(sqlite_url):
    result = run(["shop", "show", "1"], cli_env(sqlite_url))
    assert result.returncode == 1
    assert "loyalty db upgrade" in result.stderr
    assert "Traceback" not in result.stderr


# -- shops --------------------------------------------------------------------------------


def test_shopify_shop_is_added_and_shown_without_its_token(database_url, db):
    env = cli_env(database_url)
    shop_id = add_shopify(env, domain="Acme-Outdoor.myshopify.com", token="shpat_do_not_print_me")

    shown = invoke(["shop", "show", str(shop_id)], env)
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.output)
    with db.session() as s:
        shop = s.get(Shop, shop_id)
        assert shop.credentials == {"access_token": "shpat_do_not_print_me"}
        widget_secret = shop.widget_secret_value()
    assert data["id"] == shop_id
    assert data["platform"] == "shopify"
    assert data["domain"] == "acme-outdoor.myshopify.com"
    assert data["widget_secret"] == widget_secret and len(widget_secret) >= 32
    assert data["credentials_set"] == ["access_token"]
    assert data["program"]["points_per_unit"] is not None
    assert "shpat_do_not_print_me" not in shown.output


def test_woocommerce_shop_is_added_and_shown_without_its_secrets(database_url, db):
    env = cli_env(database_url)
    result = invoke(
        ["shop", "add", "woocommerce", "--url", "https://shop.example.com/",
         "--consumer-key", "ck_visible_nowhere", "--consumer-secret", "cs_visible_nowhere",
         "--webhook-secret", "whsec_visible_nowhere", "--currency", "eur"],
        env,
    )
    assert result.exit_code == 0, result.output
    shop_id = int(result.output.strip())

    shown = invoke(["shop", "show", str(shop_id)], env)
    data = json.loads(shown.output)
    assert data["domain"] == "https://shop.example.com"
    assert data["currency"] == "EUR"
    assert data["credentials_set"] == ["consumer_key", "consumer_secret", "webhook_secret"]
    assert "visible_nowhere" not in shown.output
    with db.session() as s:
        assert s.get(Shop, shop_id).credentials["webhook_secret"] == "whsec_visible_nowhere"


@pytest.mark.parametrize("domain", ["acme.com", "acme.myshopify.com.evil.test", "-x.myshopify.com", ""])
def test_a_domain_that_is_not_myshopify_is_refused(sqlite_url, domain):
    upgrade(sqlite_url)
    result = run(["shop", "add", "shopify", "--domain", domain, "--token", "shpat_x"], cli_env(sqlite_url))
    assert result.returncode != 0
    assert "myshopify" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_plain_http_store_needs_allow_http_stores(database_url):
    args = ["shop", "add", "woocommerce", "--url", "http://localhost:8080", "--consumer-key", "ck",
            "--consumer-secret", "cs", "--webhook-secret", "ws"]
    refused = invoke(args, cli_env(database_url))
    assert refused.exit_code == 1
    assert "https" in refused.output and "ALLOW_HTTP_STORES" in refused.output

    allowed = invoke(args, cli_env(database_url, ALLOW_HTTP_STORES="1"))
    assert allowed.exit_code == 0, allowed.output
    assert allowed.output.strip().isdigit()


def test_the_same_shop_twice_is_a_clear_error(database_url):
    env = cli_env(database_url)
    add_shopify(env, domain="twice.myshopify.com")
    again = invoke(["shop", "add", "shopify", "--domain", "twice.myshopify.com", "--token", "t"], env)
    assert again.exit_code == 1
    assert "already exists" in again.output


def test_showing_an_unknown_shop_fails(database_url):
    result = invoke(["shop", "show", "999999"], cli_env(database_url))
    assert result.exit_code == 1
    assert "shop 999999 not found" in result.output


# -- staff --------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["owner", "support"])
def test_staff_add_prints_a_token_that_authenticates(database_url, db, role):
    env = cli_env(database_url)
    shop_id = add_shopify(env)
    result = invoke(["staff", "add", "--shop", str(shop_id), "--email", "Kim@Example.com", "--role", role], env)
    assert result.exit_code == 0, result.output
    token = result.output.strip()
    assert "\n" not in token
    with db.transaction() as s:
        user = authenticate(s, token)
        assert user is not None
        assert (user.shop_id, user.email, user.role) == (shop_id, "kim@example.com", role)


def test_staff_add_refuses_unknown_shops_and_roles(database_url):
    env = cli_env(database_url)
    unknown_shop = invoke(["staff", "add", "--shop", "424242", "--email", "a@b.test", "--role", "admin"], env)
    assert unknown_shop.exit_code == 1 and "shop 424242 not found" in unknown_shop.output
    shop_id = add_shopify(env)
    bad_role = invoke(["staff", "add", "--shop", str(shop_id), "--email", "a@b.test", "--role", "god"], env)
    assert bad_role.exit_code == 2 and "god" in bad_role.output


# -- check-ledger -------------------------------------------------------------------------


def seed_points(db: Database, shop_id: int, platform_id: str) -> int:
    with db.transaction() as s:
        customer = Customer(shop_id=shop_id, platform_id=platform_id, email=f"{platform_id}@example.test")
        s.add(customer)
        s.flush()
        common = {"shop_id": shop_id, "customer_id": customer.id}
        ledger.post(s, **common, points=300, kind="earn_order", idempotency_key=f"{platform_id}:earn")
        ledger.post(s, **common, points=-120, kind="redeem", idempotency_key=f"{platform_id}:redeem")
        pending = ledger.post(s, **common, points=40, kind="earn_order", pending=True,
                              idempotency_key=f"{platform_id}:pending")
        ledger.post_pending(s, shop_id=shop_id, entry_id=pending.id)
        return customer.id


def test_check_ledger_passes_on_good_data_and_names_a_tampered_balance(database_url, db):
    env = cli_env(database_url)
    shop_a, shop_b = add_shopify(env), add_shopify(env)
    customer_a = seed_points(db, shop_a, "a1")
    seed_points(db, shop_b, "b1")

    ok = invoke(["check-ledger"], env)
    assert ok.exit_code == 0, ok.output
    assert ok.output.startswith("ledger OK") and "2 customers" in ok.output and "6 entries" in ok.output

    with db.transaction() as s:
        s.execute(text("UPDATE customers SET points_balance = points_balance + 1 WHERE id = :id"),
                  {"id": customer_a})

    broken = invoke(["check-ledger"], env)
    assert broken.exit_code == 1
    assert "balance_equals_posted_sum" in broken.output
    assert f"customer {customer_a}" in broken.output
    assert "ledger OK" not in broken.output

    only_b = invoke(["check-ledger", "--shop", str(shop_b)], env)
    assert only_b.exit_code == 0 and "1 customers" in only_b.output
    only_a = invoke(["check-ledger", "--shop", str(shop_a)], env)
    assert only_a.exit_code == 1


def test_check_ledger_exit_status_through_the_console_script(database_url, db):
    env = cli_env(database_url)
    shop_id = add_shopify(env)
    customer_id = seed_points(db, shop_id, "c1")
    assert run(["check-ledger"], env).returncode == 0
    with db.transaction() as s:
        s.execute(text("UPDATE customers SET lifetime_points = 7 WHERE id = :id"), {"id": customer_id})
    result = run(["check-ledger"], env)
    assert result.returncode == 1
    assert "lifetime_equals_posted_earnings" in result.stderr and f"customer {customer_id}" in result.stderr


# -- demo ---------------------------------------------------------------------------------


def test_demo_twice_reuses_the_shop_and_issues_a_fresh_token(database_url, db):
    env = cli_env(database_url)
    first = invoke(["demo"], env)
    assert first.exit_code == 0, first.output
    second = invoke(["demo"], env)
    assert second.exit_code == 0, second.output

    def parse(output):
        return dict(line.split("=", 1) for line in output.splitlines() if line.startswith(("shop_id=", "token=")))

    one, two = parse(first.output), parse(second.output)
    assert one["shop_id"] == two["shop_id"]
    assert one["token"] != two["token"]
    with db.transaction() as s:
        for token in (one["token"], two["token"]):
            owner = authenticate(s, token)
            assert owner is not None and owner.role == "owner" and owner.shop_id == int(one["shop_id"])
        assert s.scalar(select(func.count()).select_from(Customer)) == 25
    assert invoke(["check-ledger"], env).exit_code == 0


# -- keys ---------------------------------------------------------------------------------


def test_generate_key_prints_a_new_fernet_key_even_with_a_broken_setting():
    env = {"ENCRYPTION_KEY": "not-a-key", "DATABASE_URL": "nonsense"}
    first, second = invoke(["generate-key"], env), invoke(["generate-key"], env)
    assert first.exit_code == 0 and second.exit_code == 0
    key = first.output.strip()
    assert key != second.output.strip()
    assert Fernet(key.encode()).decrypt(Fernet(key.encode()).encrypt(b"x")) == b"x"


def test_rotate_keys_reencrypts_with_the_first_key(database_url, db):
    old_key = Settings().encryption_keys[0]
    new_key = Fernet.generate_key().decode()
    env = cli_env(database_url)
    shop_id = add_shopify(env, token="shpat_rotate_me")
    before = json.loads(invoke(["shop", "show", str(shop_id)], env).output)["widget_secret"]

    rotated = invoke(["rotate-keys"], cli_env(database_url, ENCRYPTION_KEY=f"{new_key},{old_key}"))
    assert rotated.exit_code == 0, rotated.output
    assert "1 shops" in rotated.output

    # The old key can go now: everything reads with the new key alone.
    new_only = cli_env(database_url, ENCRYPTION_KEY=new_key)
    shown = invoke(["shop", "show", str(shop_id)], new_only)
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["widget_secret"] == before
    keyring.configure((new_key,))
    with db.session() as s:
        assert s.get(Shop, shop_id).credentials == {"access_token": "shpat_rotate_me"}

    # ...and the old key alone no longer can: a clear error, not a traceback.
    old_only = run(["shop", "show", str(shop_id)], cli_env(database_url, ENCRYPTION_KEY=old_key))
    assert old_only.returncode == 1
    assert "cannot be decrypted" in old_only.stderr and "Traceback" not in old_only.stderr


# -- settings -----------------------------------------------------------------------------


def test_unsafe_production_settings_are_refused_in_one_line(sqlite_url):
    result = run(["check-ledger"], cli_env(sqlite_url, APP_ENV="production"))
    assert result.returncode == 1
    assert "refusing to start in production" in result.stderr
    assert "Traceback" not in result.stderr

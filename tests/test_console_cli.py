"""`loyalty staff password` and `loyalty staff link-shopify-user`: what an operator runs to
let a staff user into the console."""

from __future__ import annotations

from cli_helpers import cli_env, invoke
from click.testing import CliRunner
from console_helpers import cheap_password_hashing, sign_in  # noqa: F401 (autouse fixture)

from app.cli import main
from app.models import ShopifyStaffLink


def test_password_from_stdin_lets_the_user_sign_in(pg_url, pg_db, factory, client):
    shop = factory.shop()
    user, _ = factory.staff(shop, role="admin", email="kim@example.test")
    result = CliRunner().invoke(
        main, ["staff", "password", "--shop", str(shop.id), "--email", "Kim@Example.test", "--password-stdin"],
        input="a long enough password\n", env=cli_env(pg_url), catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert "a long enough password" not in result.output
    assert sign_in(client, "kim@example.test", "a long enough password").status_code == 302


def test_password_prompt_asks_twice(pg_url, pg_db, factory):
    shop = factory.shop()
    factory.staff(shop, role="viewer", email="lee@example.test")
    result = CliRunner().invoke(
        main, ["staff", "password", "--shop", str(shop.id), "--email", "lee@example.test"],
        input="first password here\nsecond password here\nfirst password here\nfirst password here\n",
        env=cli_env(pg_url), catch_exceptions=False,
    )
    assert result.exit_code == 0 and "do not match" in result.output.lower()


def test_short_passwords_and_unknown_users_are_refused(pg_url, pg_db, factory):
    shop = factory.shop()
    factory.staff(shop, role="viewer", email="lee@example.test")
    env = cli_env(pg_url)
    short = CliRunner().invoke(
        main, ["staff", "password", "--shop", str(shop.id), "--email", "lee@example.test", "--password-stdin"],
        input="short\n", env=env, catch_exceptions=False,
    )
    assert short.exit_code == 1 and "at least 12 characters" in short.output
    unknown = CliRunner().invoke(
        main, ["staff", "password", "--shop", str(shop.id), "--email", "nobody@example.test", "--password-stdin"],
        input="a long enough password\n", env=env, catch_exceptions=False,
    )
    assert unknown.exit_code == 1 and "no staff user" in unknown.output


def test_link_shopify_user(pg_url, pg_db, factory):
    shop = factory.shop()
    user, _ = factory.staff(shop, role="support", email="sam@example.test")
    env = cli_env(pg_url)
    args = ["staff", "link-shopify-user", "--shop", str(shop.id), "--email", "sam@example.test"]
    result = invoke([*args, "--shopify-user-id", "777"], env)
    assert result.exit_code == 0 and "(support)" in result.output
    assert invoke([*args, "--shopify-user-id", "777"], env).exit_code == 0  # again: no duplicate
    with pg_db.session() as s:
        links = s.query(ShopifyStaffLink).all()
    assert [(link.shopify_user_id, link.staff_user_id) for link in links] == [("777", user.id)]
    assert invoke([*args, "--shopify-user-id", "x"], env).exit_code == 1

"""Importing balances on PostgreSQL: every balance ends equal to the file's, a second run
changes nothing, a dry run changes nothing, no mail is queued, other shops are untouched,
and the ledger invariants hold after every import."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from app.imports.balances import placeholder_platform_id, run_import
from app.imports.formats import parse_balances
from app.loyalty import checks
from app.models import Customer, LedgerEntry, Reward
from app.models.mail import MailMessage


def state(db, shop_id: int) -> dict[str, tuple[int, int]]:
    """platform id -> (balance, number of ledger entries) for one shop."""
    with db.session() as s:
        rows = s.execute(
            select(Customer.platform_id, Customer.points_balance, func.count(LedgerEntry.id))
            .outerjoin(LedgerEntry, LedgerEntry.customer_id == Customer.id)
            .where(Customer.shop_id == shop_id)
            .group_by(Customer.id)
        ).all()
    return {p: (int(b), int(n)) for p, b, n in rows}


def balances_by_email(db, shop_id: int) -> dict[str, int]:
    with db.session() as s:
        rows = s.execute(
            select(Customer.email, Customer.points_balance).where(Customer.shop_id == shop_id)
        ).all()
    return {e.lower(): int(b) for e, b in rows if e}


def assert_ledger_ok(db, shop_id: int) -> None:
    with db.session() as s:
        assert checks.find_violations(s, shop_id=shop_id) == []


def do_import(db, shop, text: str, *, dry_run: bool = False, fmt: str = "auto"):
    return run_import(db, shop.id, parse_balances(text, fmt), dry_run=dry_run, source="test.csv")


def test_balances_are_set_existing_customers_matched_and_missing_ones_created(factory, pg_db):
    shop = factory.shop()
    ada = factory.customer(shop, platform_id="501", email="Ada.Lovelace@example.com")
    grace = factory.customer(shop, platform_id="502", email="grace@example.com")
    factory.points(shop, ada, 40)
    factory.points(shop, grace, 700)
    text = (
        "email,points\n"
        "ada.lovelace@example.com,1250\n"  # matched ignoring case: +1210
        "grace@example.com,300\n"  # taken down: -400
        "new.shopper@example.com,80\n"  # created
    )
    result = do_import(pg_db, shop, text)
    assert (result.changed, result.unchanged, result.created, result.errors) == (3, 0, 1, [])
    assert result.points_delta == 1210 - 400 + 80
    assert balances_by_email(pg_db, shop.id) == {
        "ada.lovelace@example.com": 1250, "grace@example.com": 300, "new.shopper@example.com": 80,
    }
    with pg_db.session() as s:
        created = s.scalar(select(Customer).where(Customer.email == "new.shopper@example.com"))
        assert created.platform_id == placeholder_platform_id("new.shopper@example.com")
        kinds = set(s.scalars(select(LedgerEntry.kind).where(LedgerEntry.shop_id == shop.id, LedgerEntry.kind == "import")))
        assert kinds == {"import"}
    assert_ledger_ok(pg_db, shop.id)


def test_importing_the_same_file_twice_changes_nothing(factory, pg_db):
    shop = factory.shop()
    factory.customer(shop, platform_id="9", email="a@example.com")
    text = "platform_id,email,points_balance\n9,a@example.com,10\n10,b@example.com,20\n"
    do_import(pg_db, shop, text)
    before = state(pg_db, shop.id)
    again = do_import(pg_db, shop, text)
    assert (again.changed, again.created, again.unchanged) == (0, 0, 2)
    assert state(pg_db, shop.id) == before


def test_platform_id_wins_over_email_and_a_placeholder_gets_the_real_id(factory, pg_db):
    shop = factory.shop()
    do_import(pg_db, shop, "email,points\nzoe@example.com,5\n")
    do_import(pg_db, shop, "platform_id,email,points_balance\n4242,zoe@example.com,15\n")
    with pg_db.session() as s:
        customers = s.scalars(select(Customer).where(Customer.shop_id == shop.id)).all()
    assert [(c.platform_id, c.points_balance) for c in customers] == [("4242", 15)]


def test_an_email_owned_by_another_platform_id_is_a_conflict_and_nothing_changes(factory, pg_db):
    shop = factory.shop()
    factory.customer(shop, platform_id="1", email="taken@example.com")
    before = state(pg_db, shop.id)
    result = do_import(pg_db, shop, "platform_id,email,points_balance\n2,taken@example.com,50\n3,ok@example.com,5\n")
    assert [(e.line, e.code) for e in result.errors] == [(2, "conflict")]
    assert state(pg_db, shop.id) == before


def test_dry_run_changes_nothing_and_counts_what_would_change(factory, pg_db):
    shop = factory.shop()
    ada = factory.customer(shop, email="ada@example.com")
    factory.points(shop, ada, 10)
    before = state(pg_db, shop.id)
    result = do_import(pg_db, shop, "email,points\nada@example.com,10\nnew@example.com,5\n", dry_run=True)
    assert (result.changed, result.unchanged, result.created, result.points_delta) == (1, 1, 1, 5)
    assert state(pg_db, shop.id) == before


def test_a_file_with_bad_rows_is_refused_whole(factory, pg_db):
    shop = factory.shop()
    text = "email,points\ngood@example.com,10\nbad-address,5\nother@example.com,-1\n"
    for dry_run in (True, False):
        result = do_import(pg_db, shop, text, dry_run=dry_run)
        assert [(e.line, e.code) for e in result.errors] == [(3, "bad_email"), (4, "negative_points")]
        assert state(pg_db, shop.id) == {}


def test_an_import_queues_no_mail(factory, pg_db):
    """Even a balance that crosses a reward's cost for an installed shop's subscribed
    shopper queues nothing (an order would mail `reward_affordable`)."""
    shop = factory.shop()
    factory.customer(shop, email="fan@example.com", accepts_marketing=True)
    with pg_db.transaction() as s:
        s.add(Reward(shop_id=shop.id, name="5 off", kind="fixed_amount", points_cost=100, value=500, active=True))
    do_import(pg_db, shop, "email,points\nfan@example.com,5000\nnewbie@example.com,5000\n")
    with pg_db.session() as s:
        assert s.scalar(select(func.count()).select_from(MailMessage)) == 0
    assert balances_by_email(pg_db, shop.id)["fan@example.com"] == 5000


def test_other_shops_are_untouched(factory, pg_db):
    ours, theirs = factory.shop(), factory.shop()
    factory.customer(theirs, platform_id="77", email="same@example.com")
    before = state(pg_db, theirs.id)
    do_import(pg_db, ours, "platform_id,email,points_balance\n77,same@example.com,900\n")
    assert state(pg_db, theirs.id) == before
    assert state(pg_db, ours.id) == {"77": (900, 1)}


def test_pending_points_are_left_pending(factory, pg_db):
    from app.loyalty import ledger

    shop = factory.shop()
    c = factory.customer(shop, email="p@example.com")
    with pg_db.transaction() as s:
        ledger.post(s, shop_id=shop.id, customer_id=c.id, points=30, kind="earn_order",
                    idempotency_key="order:x:earn", pending=True)
    do_import(pg_db, shop, "email,points\np@example.com,100\n")
    with pg_db.session() as s:
        again = s.get(Customer, c.id)
        assert (again.points_balance, again.pending_points) == (100, 30)
    assert_ledger_ok(pg_db, shop.id)


email_st = st.from_regex(r"[a-z]{1,6}@(example|shop)\.(com|nl)", fullmatch=True)
rows_st = st.lists(
    st.tuples(email_st, st.integers(0, 5000)), min_size=1, max_size=12, unique_by=lambda r: r[0]
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=rows_st, existing=st.lists(st.tuples(email_st, st.integers(1, 3000)), max_size=6, unique_by=lambda r: r[0]))
def test_any_valid_file_sets_every_balance_and_a_second_import_changes_nothing(factory, pg_db, rows, existing):
    shop = factory.shop()
    for email, points in existing:
        customer = factory.customer(shop, email=email, platform_id=uuid.uuid4().hex[:12])
        factory.points(shop, customer, points)
    text = "email,points\n" + "".join(f"{e},{p}\n" for e, p in rows)
    first = do_import(pg_db, shop, text)
    assert first.errors == []
    after_first = state(pg_db, shop.id)
    balances = balances_by_email(pg_db, shop.id)
    for email, points in rows:
        assert balances[email] == points
    for email, points in existing:  # customers not in the file keep their balance
        if email not in dict(rows):
            assert balances[email] == points
    second = do_import(pg_db, shop, text)
    assert (second.changed, second.created) == (0, 0)
    assert state(pg_db, shop.id) == after_first
    assert_ledger_ok(pg_db, shop.id)


@pytest.mark.parametrize("chunk", [1, 2, 500])
def test_progress_is_reported_after_every_chunk(factory, pg_db, chunk):
    shop = factory.shop()
    text = "email,points\n" + "".join(f"s{i}@example.com,{i}\n" for i in range(5))
    seen: list[int] = []
    run_import(pg_db, shop.id, parse_balances(text), dry_run=False, chunk=chunk,
               on_progress=lambda r: seen.append(r.processed))
    expected = [n for n in range(chunk, 5, chunk)] + [5]
    assert seen == expected


def test_two_rows_naming_one_customer_differently_are_a_duplicate(factory, pg_db):
    shop = factory.shop()
    factory.customer(shop, platform_id="5", email="five@example.com")
    before = state(pg_db, shop.id)
    result = do_import(pg_db, shop, "platform_id,email,points_balance\n5,,10\n,five@example.com,20\n")
    assert [(e.line, e.code) for e in result.errors] == [(3, "duplicate_row")]
    assert state(pg_db, shop.id) == before

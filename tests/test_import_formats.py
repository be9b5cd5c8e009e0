"""Reading balance files: each vendor's layout from a realistic sample in
tests/data/imports/, detection, and every kind of bad row with its line number."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.imports.formats import decode, detect, parse_balances

DATA = Path(__file__).resolve().parent / "data" / "imports"


def read(name: str) -> str:
    return decode((DATA / name).read_bytes())


def expected_rows(name: str, email_col: str, points_col: str, header: bool = True):
    """What the sample says, read with the csv module independently of the parser."""
    text = read(name)
    if not header:
        return [(r[0], int(r[1])) for r in csv.reader(io.StringIO(text)) if r]
    return [(r[email_col], int(r[points_col])) for r in csv.DictReader(io.StringIO(text))]


@pytest.mark.parametrize(
    ("name", "fmt", "email_col", "points_col", "header"),
    [
        ("smile_points.csv", "smile", "email", "points", True),
        ("loyaltylion_points.csv", "loyaltylion", None, None, False),
        ("yotpo_customers.csv", "yotpo", "Email", "Points Balance", True),
        ("yotpo_export.csv", "yotpo", "Email address", "Current points balance", True),
    ],
)
def test_vendor_samples_are_detected_and_read(name, fmt, email_col, points_col, header):
    parsed = parse_balances(read(name), "auto")
    assert parsed.errors == []
    assert parsed.format == fmt
    assert [(r.email, r.points) for r in parsed.rows] == expected_rows(name, email_col, points_col, header)
    assert parsed.rows[0].line == (2 if header else 1)


def test_explicit_format_reads_the_same_sample():
    auto = parse_balances(read("smile_points.csv"), "auto")
    explicit = parse_balances(read("smile_points.csv"), "smile")
    assert auto.rows == explicit.rows


def test_loyaltylion_file_with_a_header_row():
    parsed = parse_balances(read("loyaltylion_points_with_header.csv"), "loyaltylion")
    assert parsed.errors == []
    assert [(r.email, r.points, r.line) for r in parsed.rows] == [
        ("ada.lovelace@example.com", 1250, 2),
        ("grace.hopper@example.com", 310, 3),
    ]


def test_yotpo_names_and_full_name_split():
    parsed = parse_balances(read("yotpo_customers.csv"))
    by_email = {r.email: r for r in parsed.rows}
    assert (by_email["ada.lovelace@example.com"].first_name, by_email["ada.lovelace@example.com"].last_name) == ("Ada", "Lovelace")
    # No first/last name: taken from Full Name.
    assert by_email["grace.hopper@example.com"].first_name == "Grace"
    assert by_email["grace.hopper@example.com"].last_name == "Hopper"


def test_own_balances_file_keeps_platform_ids():
    parsed = parse_balances(read("loyaltyloop_balances.csv"))
    assert parsed.format == "loyaltyloop"
    assert [(r.platform_id, r.email, r.points) for r in parsed.rows] == [
        ("7001", "ada.lovelace@example.com", 1250),
        ("7002", "grace.hopper@example.com", 310),
        ("7003", None, 90),
    ]


def test_semicolon_delimited_file_from_a_european_spreadsheet():
    parsed = parse_balances(read("semicolon_smile.csv"))
    assert parsed.format == "smile"
    assert [r.points for r in parsed.rows] == [1250, 310]


def test_every_bad_row_is_reported_with_its_line_and_reason():
    parsed = parse_balances(read("bad_rows.csv"))
    got = [(e.line, e.code) for e in parsed.errors]
    assert got == [
        (3, "bad_email"),
        (4, "negative_points"),
        (5, "bad_points"),
        (6, "duplicate_row"),
        (7, "bad_points"),
        (8, "missing_identity"),
        (9, "bad_points"),
    ]
    assert "line 2" in parsed.errors[3].reason  # the duplicate names the first occurrence
    assert [r.line for r in parsed.rows] == [2]


def test_unknown_column_set_is_one_error_on_the_header_line():
    parsed = parse_balances(read("unknown_columns.csv"))
    assert parsed.rows == []
    assert [(e.line, e.code) for e in parsed.errors] == [(1, "unknown_columns")]
    assert "balance_in_points" in parsed.errors[0].reason


def test_a_format_that_does_not_fit_the_file_is_refused():
    parsed = parse_balances(read("smile_points.csv"), "yotpo")
    assert [(e.line, e.code) for e in parsed.errors] == [(1, "unknown_columns")]


def test_non_utf8_bytes_are_refused():
    with pytest.raises(ValueError, match="UTF-8"):
        decode("email,points\nzoë@example.com,5\n".encode("utf-16"))


def test_detect_prefers_the_ledger_export():
    assert detect(["entry_id", "created_at", "customer_platform_id", "customer_email", "points", "kind", "status"]) == "loyaltyloop"
    assert detect(["Email", "Points Balance"]) == "yotpo"
    assert detect(["email", "points"]) == "smile"
    assert detect(["x@example.com", "12"]) == "loyaltylion"
    assert detect(["name", "total"]) is None


emails = st.from_regex(r"[a-z][a-z0-9.]{0,10}@[a-z]{1,8}\.(com|nl|io)", fullmatch=True)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(emails, st.integers(0, 10**9)), max_size=30, unique_by=lambda t: t[0].lower()))
def test_any_valid_smile_file_reads_back_exactly(rows):
    text = "email,points\n" + "".join(f"{e},{p}\n" for e, p in rows)
    parsed = parse_balances(text)
    assert parsed.errors == []
    assert [(r.email, r.points, r.line) for r in parsed.rows] == [
        (e, p, i + 2) for i, (e, p) in enumerate(rows)
    ]

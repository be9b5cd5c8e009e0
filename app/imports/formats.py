"""Reading balance files: which vendor's layout a CSV is in, and one checked row per customer.

Pure functions over text: no database, no Flask. `parse_balances(text, fmt)` answers a
`ParsedFile` with the detected format, the good rows (`BalanceRow`, each with its line
number) and every bad row (`RowError`: line, code, reason). A file whose header matches no
known layout is one error on line 1 (`unknown_columns`) and no rows.

The layouts and where their column names come from are in docs/import-export.md:
- `loyaltyloop`: this app's own files: the ledger export (`loyalty export-ledger`; the
  balance of a customer is the sum of their posted entries) or a balances file with
  `platform_id`, `email`, `points_balance`.
- `smile`: Smile.io's points import file, headers `email` and `points`.
- `loyaltylion`: LoyaltyLion's points import file: column A email, column B points (with
  or without a header row).
- `yotpo`: Yotpo Loyalty's customer import/export columns (`Email`, `Points Balance`,
  `First Name`, `Last Name`, `Full Name`, ...).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field

FORMATS = ("auto", "loyaltyloop", "smile", "loyaltylion", "yotpo")
MAX_POINTS = 1_000_000_000
MAX_ROWS = 200_000

# One @, no spaces, a dot in the domain: what a shop's platform would accept as an address.
_EMAIL = re.compile(r"^[^@\s,;<>\"]+@[^@\s,;<>\"]+\.[^@\s,;<>\".]{2,}$")
_WHOLE = re.compile(r"^[+-]?\d+$")


@dataclass(frozen=True)
class BalanceRow:
    """One customer's balance as the file states it."""

    line: int
    email: str | None
    platform_id: str | None
    points: int
    first_name: str | None = None
    last_name: str | None = None

    @property
    def identity(self) -> str:
        return self.platform_id or (self.email or "").lower()


@dataclass(frozen=True)
class RowError:
    line: int
    code: str  # bad_email | bad_points | negative_points | duplicate_row | missing_identity | unknown_columns | bad_file | conflict
    reason: str

    def as_dict(self) -> dict:
        return {"line": self.line, "code": self.code, "reason": self.reason}


@dataclass
class ParsedFile:
    format: str | None
    rows: list[BalanceRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    data_rows: int = 0  # non-blank data rows read (for a ledger file: entries)


def _norm(header: str) -> str:
    return re.sub(r"[\s_\-]+", " ", header.strip().lower().lstrip("\ufeff")).strip()


# Canonical field -> the normalised header names a layout uses for it.
LAYOUTS: dict[str, dict[str, tuple[str, ...]]] = {
    "loyaltyloop": {
        "platform_id": ("platform id", "customer platform id"),
        "email": ("email", "customer email"),
        "points": ("points balance",),
        "first_name": ("first name",),
        "last_name": ("last name",),
    },
    "yotpo": {
        "email": ("email", "email address"),
        "points": ("points balance", "current points balance"),
        "first_name": ("first name",),
        "last_name": ("last name",),
        "full_name": ("full name",),
    },
    "smile": {
        "email": ("email",),
        "points": ("points",),
        "first_name": ("first name",),
        "last_name": ("last name",),
    },
    "loyaltylion": {
        "email": ("email", "email address"),
        "points": ("points",),
    },
}
LEDGER_COLUMNS = ("entry id", "customer platform id", "customer email", "points", "status")


def _columns(headers: list[str], layout: str) -> dict[str, int] | None:
    """Column index per canonical field, or None when a required one is missing."""
    normalised = [_norm(h) for h in headers]
    found: dict[str, int] = {}
    for name, aliases in LAYOUTS[layout].items():
        for alias in aliases:
            if alias in normalised:
                found[name] = normalised.index(alias)
                break
    if "points" not in found:
        return None
    if layout == "loyaltyloop":
        if "platform_id" not in found:
            return None
    elif "email" not in found:
        return None
    return found


def _is_ledger(headers: list[str]) -> bool:
    normalised = {_norm(h) for h in headers}
    return all(c in normalised for c in LEDGER_COLUMNS)


def _looks_headerless(first: list[str]) -> bool:
    return len(first) >= 2 and bool(_EMAIL.match(first[0].strip())) and bool(
        _WHOLE.match(first[1].strip())
    )


def detect(headers: list[str]) -> str | None:
    """The layout of a file from its first row, or None."""
    if _is_ledger(headers):
        return "loyaltyloop"
    for layout in ("loyaltyloop", "yotpo", "smile"):
        if _columns(headers, layout) is not None:
            return layout
    if _looks_headerless(headers):
        return "loyaltylion"
    return None


def decode(data: bytes) -> str:
    """UTF-8 text (a leading byte-order mark, as spreadsheets write it, is dropped)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError("the file is not UTF-8 text; save it as 'CSV UTF-8'") from None


def _reader(text: str):
    sample = text[:4096]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    return csv.reader(io.StringIO(text, newline=""), dialect)


def parse_points(raw: str, *, allow_negative: bool = False) -> int | RowError:
    value = raw.strip()
    if not value:
        return RowError(0, "bad_points", "points are missing")
    if not _WHOLE.match(value):
        return RowError(0, "bad_points", f"points must be a whole number, got {value!r}")
    points = int(value)
    if points < 0 and not allow_negative:
        return RowError(0, "negative_points", f"points must not be negative, got {points}")
    if abs(points) > MAX_POINTS:
        return RowError(0, "bad_points", f"points must be at most {MAX_POINTS}")
    return points


def _clean(value: str | None, limit: int) -> str | None:
    if value is None:
        return None
    value = value.strip().replace("\x00", "")
    return value[:limit] or None


def parse_balances(text: str, fmt: str = "auto") -> ParsedFile:
    """Every row of a balance file checked; see the module docstring."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
    reader = _reader(text)
    records: list[tuple[int, list[str]]] = []
    line = 1
    try:
        for record in reader:
            records.append((line, record))
            line = reader.line_num + 1
            if len(records) > MAX_ROWS + 1:
                return ParsedFile(None, errors=[RowError(line, "bad_file", f"more than {MAX_ROWS} rows")])
    except csv.Error as exc:
        return ParsedFile(None, errors=[RowError(line, "bad_file", f"not a readable CSV file: {exc}")])
    records = [(n, r) for n, r in records if any(cell.strip() for cell in r)]
    if not records:
        return ParsedFile(None, errors=[RowError(1, "unknown_columns", "the file is empty")])
    first_line, headers = records[0]
    layout = detect(headers) if fmt == "auto" else fmt
    if layout is None:
        return ParsedFile(None, errors=[_unknown(first_line, headers)])
    if layout == "loyaltyloop" and _is_ledger(headers):
        return _parse_ledger(headers, records[1:])
    if layout == "loyaltylion" and _looks_headerless(headers):
        columns: dict[str, int] | None = {"email": 0, "points": 1}
        body = records
    else:
        columns = _columns(headers, layout)
        body = records[1:]
    if columns is None:
        return ParsedFile(layout, errors=[_unknown(first_line, headers, layout)])
    return _parse_rows(layout, columns, body)


def _unknown(line: int, headers: list[str], layout: str | None = None) -> RowError:
    shown = ", ".join(repr(h.strip()) for h in headers[:12])
    target = f"the {layout} layout" if layout else "any known layout"
    return RowError(line, "unknown_columns", f"columns [{shown}] do not match {target}")


def _cell(record: list[str], index: int | None) -> str | None:
    if index is None or index >= len(record):
        return None
    return record[index]


def _parse_rows(layout: str, columns: dict[str, int], body) -> ParsedFile:
    parsed = ParsedFile(layout)
    seen: dict[str, int] = {}
    for line, record in body:
        parsed.data_rows += 1
        email = _clean(_cell(record, columns.get("email")), 320)
        platform_id = _clean(_cell(record, columns.get("platform_id")), 64)
        if email is not None and not _EMAIL.match(email):
            parsed.errors.append(RowError(line, "bad_email", f"not an email address: {email!r}"))
            continue
        if email is None and platform_id is None:
            parsed.errors.append(RowError(line, "missing_identity", "no email and no platform id"))
            continue
        points = parse_points(_cell(record, columns["points"]) or "")
        if isinstance(points, RowError):
            parsed.errors.append(RowError(line, points.code, points.reason))
            continue
        keys = [k for k in (f"p:{platform_id}" if platform_id else None,
                            f"e:{email.lower()}" if email else None) if k]
        earlier = next((seen[k] for k in keys if k in seen), None)
        if earlier is not None:
            parsed.errors.append(
                RowError(line, "duplicate_row", f"the same customer is already on line {earlier}")
            )
            continue
        for k in keys:
            seen[k] = line
        first = _clean(_cell(record, columns.get("first_name")), 255)
        last = _clean(_cell(record, columns.get("last_name")), 255)
        full = _clean(_cell(record, columns.get("full_name")), 255)
        if full and not (first or last):
            first, _, rest = full.partition(" ")
            last = rest.strip() or None
        parsed.rows.append(BalanceRow(line, email, platform_id, points, first, last))
    return parsed


def _unescape(value: str | None) -> str | None:
    """Undo the export's formula guard (a leading apostrophe before = + - @)."""
    if value and value.startswith("'") and value[1:2] in ("=", "+", "-", "@", "\t", "\r"):
        return value[1:]
    return value


def _parse_ledger(headers: list[str], body) -> ParsedFile:
    """This app's ledger export: a customer's balance is the sum of their posted entries."""
    normalised = [_norm(h) for h in headers]
    at = {name: normalised.index(name) for name in LEDGER_COLUMNS}
    parsed = ParsedFile("loyaltyloop")
    totals: dict[str, list] = {}  # platform id -> [first line, email, points]
    for line, record in body:
        parsed.data_rows += 1
        platform_id = _unescape(_clean(_cell(record, at["customer platform id"]), 64))
        if platform_id is None:
            parsed.errors.append(RowError(line, "missing_identity", "no customer platform id"))
            continue
        points = parse_points(_cell(record, at["points"]) or "", allow_negative=True)
        if isinstance(points, RowError):
            parsed.errors.append(RowError(line, points.code, points.reason))
            continue
        email = _unescape(_clean(_cell(record, at["customer email"]), 320))
        if email is not None and not _EMAIL.match(email):
            email = None  # a redacted or odd address: the platform id identifies the customer
        entry = totals.setdefault(platform_id, [line, email, 0])
        entry[1] = entry[1] or email
        if (_cell(record, at["status"]) or "").strip() == "posted":
            entry[2] += points
    for platform_id, (line, email, points) in totals.items():
        if points < 0:
            parsed.errors.append(
                RowError(line, "negative_points", f"customer {platform_id} owes {-points} points; "
                         "a negative balance is not imported")
            )
            continue
        parsed.rows.append(BalanceRow(line, email, platform_id, points))
    return parsed

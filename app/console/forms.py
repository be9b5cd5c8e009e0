"""Reading HTML form values into the plain values the domain's pydantic models check.
A field left empty means "no value" (None) where the model allows it; anything that does
not parse is passed on as text so the model's own validation names the field."""

from __future__ import annotations

from typing import Any

from werkzeug.datastructures import MultiDict


def int_or_text(raw: str) -> int | str | None:
    raw = raw.strip()
    if raw == "":
        return None
    body = raw[1:] if raw[:1] in "+-" else raw
    if body.isdigit() and len(body) <= 19:
        return int(raw)
    return raw


def read(form: MultiDict, fields: dict[str, str]) -> dict[str, Any]:
    """`fields` maps a field name to its kind: int, int?, bool, text, text?, decimal,
    intlist or strlist."""
    values: dict[str, Any] = {}
    for name, kind in fields.items():
        raw = form.get(name, "")
        if kind == "bool":
            values[name] = form.get(name) in ("on", "true", "1")
        elif kind in ("int", "int?"):
            value = int_or_text(raw)
            if value is None and kind == "int":
                value = raw
            values[name] = value
        elif kind == "decimal":
            values[name] = raw.strip()
        elif kind == "text":
            values[name] = raw.strip()
        elif kind == "text?":
            values[name] = raw.strip() or None
        elif kind == "intlist":
            parts = [p.strip() for p in raw.split(",") if p.strip()]
            values[name] = [int_or_text(p) for p in parts]
        elif kind == "strlist":
            parts = [p.strip() for p in raw.split(",") if p.strip()]
            values[name] = parts or None
        else:  # pragma: no cover - a typo in a field table
            raise ValueError(f"unknown field kind {kind}")
    return values


def errors_of(exc: Any) -> list[str]:
    """Messages of a ValidationFailed, one per field."""
    details = getattr(exc, "details", None) or []
    messages = [f"{d.get('field')}: {d.get('message')}" for d in details if isinstance(d, dict)]
    return messages or [getattr(exc, "message", str(exc))]

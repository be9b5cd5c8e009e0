"""Rendering a lifecycle mail: subject, text and HTML in the shopper's language.

Every word comes from the catalogue (`templates/catalogue/<locale>.json`): one entry per
kind (subject, heading, body) plus the shared strings, each a small Jinja template over the
merge fields. Two layouts (`TEXT_LAYOUT` below, `templates/layout.html`) put them together; the HTML one
escapes every merge field, so a shop or reward name can never inject markup.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template, select_autoescape
from jinja2.sandbox import SandboxedEnvironment

from app.mail.locales import DEFAULT_LOCALE, SUPPORTED_LOCALES, pick_locale
from app.models.mail import MAIL_KINDS

TEMPLATES = Path(__file__).resolve().parent / "templates"

# Merge fields each kind needs from the caller of `queue_mail` (besides the shared ones:
# shop_name, first_name, balance, which are filled from the shop and customer if absent).
REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    "points_earned": ("points",),
    "reward_affordable": ("reward_name", "points_cost"),
    "tier_reached": ("tier_name",),
    "points_expiring": ("points", "expires_on"),
    "referral_reward": ("points",),
    "winback_at_risk": ("offer",),
    "winback_lapsed": ("offer",),
}
# Names callers may reasonably use for the same field.
ALIASES = {
    "expiring_points": "points",
    "expires_at": "expires_on",
    "expiry_date": "expires_on",
    "tier": "tier_name",
    "reward": "reward_name",
    "reward_points": "points_cost",
    "cost": "points_cost",
}
_COUNTED = ("points", "balance", "points_cost")  # integers shown with thousands separators


class MissingMergeField(ValueError):
    """The context lacks a field the kind's text needs."""


@dataclass(frozen=True)
class RenderedMail:
    locale: str
    subject: str
    text: str
    html: str


def _env(autoescape: bool) -> Environment:
    return Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(["html"]) if autoescape else False,
        undefined=StrictUndefined,
    )


_HTML = _env(True)
# The plain-text layout holds no words, only structure; kept here because package data
# ships *.html and *.json files only.
TEXT_LAYOUT = """{{ heading }}

{{ greeting }}

{{ body }}
{% if balance_line %}
{{ balance_line }}
{% endif %}{% if shop_url %}
{{ cta }}: {{ shop_url }}
{% endif %}
--
{{ footer }}
{{ unsubscribe }}: {{ unsubscribe_url }}
"""
_TEXT_LAYOUT = Environment(autoescape=False, undefined=StrictUndefined, keep_trailing_newline=True).from_string(
    TEXT_LAYOUT
)
_HTML_STRINGS = Environment(autoescape=True, undefined=StrictUndefined)
_TEXT_STRINGS = Environment(autoescape=False, undefined=StrictUndefined)
# A shop's own subject and body (win-back campaigns, `custom_subject`/`custom_body` in the
# context) are written by staff: rendered in Jinja's sandbox, never with the app's globals
# (and, like every string, escaped by the HTML layout).
_TEXT_SANDBOX = SandboxedEnvironment(autoescape=False, undefined=StrictUndefined)
CUSTOM_TEXT_KINDS = ("winback_at_risk", "winback_lapsed")


@lru_cache(maxsize=4096)
def compiled(env: Environment, source: str) -> Template:
    """A catalogue or campaign string compiled once per process, not once per mail."""
    return env.from_string(source)


@cache
def catalogue(locale: str) -> dict[str, Any]:
    if locale not in SUPPORTED_LOCALES:
        locale = DEFAULT_LOCALE
    return json.loads((TEMPLATES / "catalogue" / f"{locale}.json").read_text(encoding="utf-8"))


def normalize_context(kind: str, context: dict[str, Any]) -> dict[str, Any]:
    """The context with aliases resolved; raises MissingMergeField naming what is absent."""
    merged = dict(context)
    for alias, name in ALIASES.items():
        if alias in merged and name not in merged:
            merged[name] = merged[alias]
    missing = [name for name in REQUIRED_FIELDS[kind] if merged.get(name) in (None, "")]
    if missing:
        raise MissingMergeField(f"mail kind {kind!r} needs merge fields {missing}")
    return merged


def format_number(value: int, locale: str) -> str:
    sep = catalogue(locale)["format"]["thousands_sep"]
    return f"{int(value):,}".replace(",", sep)


def format_date(value: date | str, locale: str) -> str:
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    fmt = catalogue(locale)["format"]
    return fmt["date"].format(day=value.day, month=fmt["months"][value.month - 1], year=value.year)


def render_mail(
    kind: str, locale: str | None, context: dict[str, Any], *, unsubscribe_url: str
) -> RenderedMail:
    """Subject, text and HTML of one mail. `context` must hold the kind's fields plus
    `shop_name`; `first_name`, `balance`, `shop_url` are optional."""
    if kind not in MAIL_KINDS:
        raise ValueError(f"unknown mail kind {kind!r}")
    locale = pick_locale(locale)
    strings = catalogue(locale)
    fields = _display_fields(normalize_context(kind, context), locale)
    fields.setdefault("first_name", "")
    fields.setdefault("shop_name", "")
    fields.setdefault("order_name", "")
    fields.setdefault("friend_name", "")
    own = {
        name: fields.get(f"custom_{name}") or "" for name in ("subject", "body")
    } if kind in CUSTOM_TEXT_KINDS else {"subject": "", "body": ""}

    def pieces(env: Environment) -> dict[str, str]:
        def s(text: str) -> str:
            return compiled(env, text).render(fields)

        def mine(name: str) -> str:
            if not own[name]:
                return s(strings[kind][name])
            return compiled(_TEXT_SANDBOX, own[name]).render(fields)

        has_balance = fields.get("balance") not in (None, "")
        return {
            "subject": mine("subject"),
            "heading": s(strings[kind]["heading"]),
            "body": mine("body"),
            "greeting": s(strings["common"]["greeting"]),
            "balance_line": s(strings["common"]["balance"]) if has_balance else "",
            "cta": s(strings["common"]["cta"]),
            "footer": s(strings["common"]["footer"]),
            "unsubscribe": s(strings["common"]["unsubscribe"]),
        }

    text_parts = pieces(_TEXT_STRINGS)
    layout_common = {
        "locale": locale,
        "shop_name": fields["shop_name"],
        "shop_url": fields.get("shop_url") or "",
        "unsubscribe_url": unsubscribe_url,
    }
    text = _TEXT_LAYOUT.render(**text_parts, **layout_common)
    html = _HTML.get_template("layout.html").render(**text_parts, **layout_common)
    subject = " ".join(text_parts["subject"].split())
    return RenderedMail(locale=locale, subject=subject, text=text, html=html)


def render_unsubscribe_page(locale: str | None, *, state: str, fields: dict[str, Any], action: str = "") -> str:
    """The public unsubscribe page: `state` is `confirm`, `done` or `invalid`."""
    locale = pick_locale(locale)
    strings = catalogue(locale)["unsubscribe_page"]
    values = {"shop_name": "", "email": "", **fields}
    message_key = {"confirm": "question", "done": "done", "invalid": "invalid"}[state]
    # The layout escapes; the strings are rendered as plain text first.
    message = _TEXT_STRINGS.from_string(strings[message_key]).render(values)
    return _HTML.get_template("unsubscribe.html").render(
        locale=locale,
        title=strings["title"],
        message=message,
        button=strings["button"],
        show_form=state == "confirm",
        action=action,
    )


def _display_fields(context: dict[str, Any], locale: str) -> dict[str, Any]:
    """Numbers with the language's separators, dates spelled out; `<name>_count` keeps the
    raw integer for plural choices."""
    fields = dict(context)
    for name in _COUNTED:
        value = fields.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            fields[f"{name}_count"] = value
            fields[name] = format_number(value, locale)
        else:
            fields.setdefault(f"{name}_count", None)
    if fields.get("expires_on"):
        fields["expires_on"] = format_date(fields["expires_on"], locale)
    return fields

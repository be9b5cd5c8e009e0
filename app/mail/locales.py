"""Which of the catalogue's languages a shopper gets."""

from __future__ import annotations

SUPPORTED_LOCALES = ("en", "nl", "es", "nb")
DEFAULT_LOCALE = "en"
# Norwegian is often tagged `no` or `nn` by platforms; the catalogue has Bokmål.
_ALIASES = {"no": "nb", "nn": "nb"}


def pick_locale(raw: str | None) -> str:
    """`nl-BE` → `nl`, `pt-BR` → `en` (not in the catalogue), None → `en`."""
    if not raw:
        return DEFAULT_LOCALE
    primary = raw.strip().replace("_", "-").split("-", 1)[0].lower()
    primary = _ALIASES.get(primary, primary)
    return primary if primary in SUPPORTED_LOCALES else DEFAULT_LOCALE

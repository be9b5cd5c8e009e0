"""Logs that name the request or the RQ job they belong to, and never a secret."""

from __future__ import annotations

import logging
import re

_SECRETISH = re.compile(
    r"(?i)(authorization|token|secret|password|hmac|signature|consumer_key|consumer_secret)"
    r"([\"']?\s*[:=]\s*[\"']?)([^\s\"',&]+)"
)


class ContextFilter(logging.Filter):
    """Stamps `request_id` (web) or `job_id` (RQ) on every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = "-"
        try:
            from flask import g, has_request_context

            if has_request_context():
                record.request_id = getattr(g, "request_id", "-")
        except Exception:  # pragma: no cover - flask missing in a bare worker
            pass
        try:
            from rq import get_current_job

            job = get_current_job()
            if job is not None:
                record.request_id = f"job:{job.id}"
        except Exception:
            pass
        return True


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return _SECRETISH.sub(r"\1\2[redacted]", super().format(record))


def configure_logging(level: str = "INFO") -> None:
    root = logging.getLogger()
    if any(getattr(h, "_loyalty", False) for h in root.handlers):
        root.setLevel(level)
        return
    handler = logging.StreamHandler()
    handler._loyalty = True  # type: ignore[attr-defined]
    handler.addFilter(ContextFilter())
    handler.setFormatter(
        RedactingFormatter("%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s")
    )
    root.addHandler(handler)
    root.setLevel(level)

"""Per-request plumbing: a database session, a request id, and access to settings."""

from __future__ import annotations

import re
import uuid

from flask import Flask, current_app, g, request
from sqlalchemy.orm import Session

from app.config import Settings
from app.db import Database

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def settings() -> Settings:
    return current_app.extensions["settings"]


def database() -> Database:
    return current_app.extensions["db"]


def db_session() -> Session:
    """The request's session, opened on first use and closed at teardown."""
    if "db_session" not in g:
        g.db_session = database().session()
    return g.db_session


def init_app(app: Flask) -> None:
    @app.before_request
    def _assign_request_id() -> None:
        incoming = request.headers.get("X-Request-Id", "")
        g.request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex

    @app.after_request
    def _echo_request_id(response):
        response.headers["X-Request-Id"] = getattr(g, "request_id", "")
        return response

    @app.teardown_request
    def _close_session(exc) -> None:
        session = g.pop("db_session", None)
        if session is not None:
            if exc is not None:
                session.rollback()
            session.close()

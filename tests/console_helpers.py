"""Helpers for admin console tests: staff with passwords, signing in through the form,
and reading the CSRF token out of a rendered page."""

from __future__ import annotations

import re

import pytest

PASSWORD = "correct horse battery staple"
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
_FORM_KEY = re.compile(r'name="form_key" value="([^"]+)"')


def staff_with_password(factory, db, shop, role: str = "owner", email: str | None = None,
                        password: str = PASSWORD):
    from app.console.auth import hash_password
    from app.models import StaffUser

    user, _ = factory.staff(shop, role=role, email=email)
    with db.transaction() as s:
        s.get(StaffUser, user.id).password_hash = hash_password(password)
    return user


def csrf_token(client, path: str = "/admin/sign-in") -> str:
    page = client.get(path)
    found = _TOKEN.search(page.get_data(as_text=True))
    assert found, f"no CSRF token on {path} ({page.status_code})"
    return found.group(1)


def form_key(client, customer_id: int) -> str:
    page = client.get(f"/admin/customers/{customer_id}")
    return _FORM_KEY.search(page.get_data(as_text=True)).group(1)


def sign_in(client, email: str, password: str = PASSWORD, **extra):
    token = csrf_token(client)
    return client.post(
        "/admin/sign-in", data={"email": email, "password": password, "csrf_token": token, **extra}
    )


def post(client, path: str, data: dict | None = None, *, page: str | None = None):
    """POST a console form with the CSRF token of `page` (default: the customers list)."""
    token = csrf_token(client, page or "/admin/customers")
    return client.post(path, data={**(data or {}), "csrf_token": token})


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch):
    """Argon2 with its smallest cost, so signing in many times keeps the suite fast. The
    algorithm and every code path stay the same; only the work factor differs."""
    from argon2 import PasswordHasher

    from app.console import auth

    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=64, parallelism=1))

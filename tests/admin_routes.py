"""Helpers for tests that walk every admin API route in the app's url_map, so a route
added later is checked without anyone editing those tests: which rules exist, which ids
they take, how to make a record for an id, and a minimal valid body for a declared schema."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from flask import Flask
from pydantic import BaseModel
from sqlalchemy import inspect, select, text
from werkzeug.routing import Rule

from app.models import (
    AuditEvent,
    Base,
    Customer,
    LedgerEntry,
    OrderSnapshot,
    Reward,
    WebhookDelivery,
)

PREFIX = "/admin/api/v1"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
_PARAM = re.compile(r"<(?:(?P<conv>[a-z]+)(?:\([^)]*\))?:)?(?P<name>\w+)>")

# Bodies that pass validation for schemas whose minimal instance is not meaningful.
VALID_BODIES: dict[str, dict[str, Any]] = {
    "AdjustmentIn": {"points": 1, "reason": "route check"},
}


def admin_rules(app: Flask) -> list[Rule]:
    return sorted(
        (r for r in app.url_map.iter_rules() if r.rule.startswith(PREFIX)), key=lambda r: r.rule
    )


def methods(rule: Rule) -> list[str]:
    return [m for m in METHODS if m in (rule.methods or set())]


def int_params(rule: Rule) -> list[str]:
    return [m.group("name") for m in _PARAM.finditer(rule.rule) if m.group("conv") == "int"]


def path_params(rule: Rule) -> list[str]:
    """Every path parameter; non-int ones name records by a platform id or key."""
    return [m.group("name") for m in _PARAM.finditer(rule.rule)]


def build_url(rule: Rule, values: dict[str, Any]) -> str:
    return _PARAM.sub(lambda m: str(values.get(m.group("name"), "x")), rule.rule)


def operation(app: Flask, rule: Rule):
    return getattr(app.view_functions[rule.endpoint], "openapi", None)


# -- bodies ------------------------------------------------------------------------------


def valid_body(model: type[BaseModel] | None) -> Any:
    """A small body the model accepts: known ones from VALID_BODIES, others built from the
    JSON schema (required fields only, each at its smallest allowed value)."""
    if model is None:
        return None
    if model.__name__ in VALID_BODIES:
        return dict(VALID_BODIES[model.__name__])
    schema = model.model_json_schema()
    body = _example(schema, schema)
    model.model_validate(body)  # a body the route refuses would hide what we test
    return body


def _example(schema: dict[str, Any], root: dict[str, Any]) -> Any:
    if "$ref" in schema:
        return _example(root["$defs"][schema["$ref"].rsplit("/", 1)[-1]], root)
    if "default" in schema:
        return schema["default"]
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"] or schema[key]
            return _example(options[0], root)
    kind = schema.get("type")
    if kind == "object":
        return {
            name: _example(prop, root)
            for name, prop in schema.get("properties", {}).items()
            if name in schema.get("required", [])
        }
    if kind == "array":
        return [_example(schema.get("items", {}), root) for _ in range(schema.get("minItems", 0))]
    if kind == "integer":
        low = schema.get("minimum", schema.get("exclusiveMinimum", 0) + 1)
        return max(int(low), 1) if schema.get("maximum", 1) >= 1 else int(low)
    if kind == "number":
        return max(schema.get("minimum", 1), 1)
    if kind == "boolean":
        return True
    if kind == "string":
        fmt = schema.get("format")
        if fmt == "date-time":
            return datetime.now(UTC).isoformat()
        if fmt == "date":
            return date.today().isoformat()
        if fmt == "email":
            return "someone@example.test"
        return "x" * max(int(schema.get("minLength", 1)), 1)
    return None


# -- records -----------------------------------------------------------------------------


class ShopRecords:
    """One record of each kind a route id can name, all in one shop. `marker` is a string
    placed in every free-text field, to spot a record leaking into another shop's answer."""

    def __init__(self, db, factory, shop) -> None:
        self.db, self.factory, self.shop = db, factory, shop
        self.marker = f"mk{uuid.uuid4().hex[:12]}"
        self.customer = factory.customer(
            shop,
            email=f"{self.marker}@example.test",
            first_name=self.marker,
            last_name=self.marker,
            platform_id=self.marker,
        )
        self.entry = factory.points(shop, self.customer, 70, kind="earn_order", reason=self.marker)
        from app import audit

        with db.transaction() as s:
            order = OrderSnapshot(
                shop_id=shop.id,
                platform_order_id=self.marker,
                customer_id=self.customer.id,
                name=self.marker,
            )
            delivery = WebhookDelivery(
                shop_id=shop.id,
                platform=shop.platform,
                topic="orders/paid",
                delivery_key=self.marker,
                headers={},
                body=b"{}",
                status="failed",
                last_error=self.marker,
            )
            reward = Reward(
                shop_id=shop.id, name=self.marker, kind="fixed_amount", points_cost=100, value=500
            )
            s.add_all([order, delivery, reward])
            event = audit.record(
                s,
                shop_id=shop.id,
                action="test.seed",
                target_type="customer",
                target_id=self.customer.id,
                reason=self.marker,
            )
            s.flush()
            self.ids: dict[type, int] = {
                Customer: self.customer.id,
                LedgerEntry: self.entry.id,
                OrderSnapshot: order.id,
                WebhookDelivery: delivery.id,
                AuditEvent: event.id,
                Reward: reward.id,
            }

    PARAM_MODELS = {
        "customer_id": Customer,
        "entry_id": LedgerEntry,
        "ledger_entry_id": LedgerEntry,
        "order_id": OrderSnapshot,
        "delivery_id": WebhookDelivery,
        "event_id": AuditEvent,
        "audit_event_id": AuditEvent,
        "reward_id": Reward,
    }

    def id_for(self, param: str, rule: Rule | None = None) -> Any:
        if rule is not None and param not in int_params(rule):
            return self.marker  # every platform id and key of this shop's records
        model = self.PARAM_MODELS.get(param) or model_for_param(param)
        if model not in self.ids:
            self.ids[model] = self._generic_record(model)
        return self.ids[model]

    def _generic_record(self, model: type) -> int:
        """A row of a model this helper has no builder for: required columns filled by
        type, foreign keys pointed at this shop's records."""
        values: dict[str, Any] = {}
        for column in inspect(model).columns:
            if column.primary_key:
                continue
            if column.name == "shop_id":
                values[column.key] = self.shop.id
                continue
            fks = list(column.foreign_keys)
            if fks:
                target = model_for_table(fks[0].column.table.name)
                if target is not None and (not column.nullable or "shop_id" in target.__table__.c):
                    values[column.key] = self.id_for_model(target)
                continue
            if column.nullable or column.default is not None or column.server_default is not None:
                continue
            values[column.key] = _value_for(column)
        with self.db.transaction() as s:
            row = model(**values)
            s.add(row)
            s.flush()
            return row.id

    def id_for_model(self, model: type) -> int:
        if model.__tablename__ == "shops":
            return self.shop.id
        if model not in self.ids:
            self.ids[model] = self._generic_record(model)
        return self.ids[model]

    def snapshot(self) -> dict[str, list[tuple]]:
        """Every row of this shop in every table that has a shop_id: to prove a request
        from another shop changed nothing here."""
        rows: dict[str, list[tuple]] = {}
        with self.db.session() as s:
            for table in Base.metadata.sorted_tables:
                if "shop_id" in table.c:
                    rows[table.name] = [
                        tuple(r)
                        for r in s.execute(
                            select(table).where(table.c.shop_id == self.shop.id).order_by(text("1"))
                        )
                    ]
            rows["shops"] = [
                tuple(r)
                for r in s.execute(
                    select(Base.metadata.tables["shops"]).where(
                        Base.metadata.tables["shops"].c.id == self.shop.id
                    )
                )
            ]
        return rows


def model_for_table(table_name: str) -> type | None:
    for mapper in Base.registry.mappers:
        if mapper.class_.__tablename__ == table_name:
            return mapper.class_
    return None


def model_for_param(param: str) -> type:
    """`reward_id` → the model whose table is `rewards` (or ends in `_rewards`)."""
    stem = param.removesuffix("_id")
    plurals = {stem + "s", stem + "es", stem[:-1] + "ies" if stem.endswith("y") else stem + "s"}
    for mapper in Base.registry.mappers:
        table = mapper.class_.__tablename__
        if table in plurals or any(table.endswith("_" + p) for p in plurals):
            return mapper.class_
    raise AssertionError(
        f"no model found for route parameter <int:{param}>; add it to ShopRecords.PARAM_MODELS "
        "in tests/admin_routes.py so tenant and bad-input tests cover the route"
    )


def _value_for(column) -> Any:
    try:
        python_type = column.type.python_type
    except NotImplementedError:
        python_type = str
    if python_type is str:
        length = getattr(column.type, "length", None) or 32
        return f"t{uuid.uuid4().hex}"[:length]
    if python_type is bool:
        return False
    if python_type is int:
        return 1
    if python_type is Decimal:
        return Decimal("0")
    if python_type is datetime:
        return datetime.now(UTC)
    if python_type is date:
        return date.today()
    if python_type is dict:
        return {}
    if python_type is list:
        return []
    if python_type is bytes:
        return b""
    return None

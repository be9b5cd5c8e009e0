"""Routes declared with pydantic schemas, validated on the way in and out, and the
OpenAPI 3.1 document built from those same declarations.

    @api_route(bp, "/customers/<int:customer_id>/adjustments", methods=["POST"],
               body=AdjustmentIn, response=AdjustmentOut, status=201)
    def create_adjustment(customer_id: int, body: AdjustmentIn) -> AdjustmentOut: ...

Every URL rule must carry a declaration; `tests/test_openapi.py` fails otherwise.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from flask import Blueprint, Flask, Response, jsonify, request
from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.json_schema import models_json_schema

from app.errors import AppError, ValidationFailed

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {},
            },
        }
    },
}


@dataclass
class Operation:
    summary: str
    tags: list[str]
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: Any = None
    status: int = 200
    security: str | None = None  # name of a security scheme, or None for public
    content_type: str = "application/json"
    responses: dict[int, str] = field(default_factory=dict)


def validation_details(exc: ValidationError) -> list[dict[str, Any]]:
    return [
        {"field": ".".join(str(p) for p in err["loc"]) or "(body)", "message": err["msg"]}
        for err in exc.errors(include_url=False, include_input=False, include_context=False)
    ]


def parse_json_body(model: type[BaseModel]) -> BaseModel:
    raw = request.get_data(cache=True)
    if not raw:
        data: Any = {}
    else:
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise AppError("request body is not valid JSON", code="invalid_json") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed("request body is invalid", details=validation_details(exc)) from None


def parse_query(model: type[BaseModel]) -> BaseModel:
    data: dict[str, Any] = {}
    for key in request.args:
        values = request.args.getlist(key)
        data[key] = values if len(values) > 1 else values[0]
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed("query parameters are invalid", details=validation_details(exc)) from None


def _render(result: Any, status: int) -> Any:
    if isinstance(result, Response) or (isinstance(result, tuple) and len(result) in (2, 3)):
        return result
    if isinstance(result, BaseModel):
        return jsonify(result.model_dump(mode="json")), status
    if isinstance(result, list) and result and isinstance(result[0], BaseModel):
        return jsonify([r.model_dump(mode="json") for r in result]), status
    return result


def api_route(
    bp: Blueprint | Flask,
    rule: str,
    *,
    methods: Iterable[str] = ("GET",),
    summary: str = "",
    tags: Iterable[str] = (),
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    response: Any = None,
    status: int = 200,
    security: str | None = None,
    content_type: str = "application/json",
    responses: dict[int, str] | None = None,
    endpoint: str | None = None,
) -> Callable:
    """Register a view with its schemas; the view gets `body=` and `query=` parsed."""

    def decorator(fn: Callable) -> Callable:
        op = Operation(
            summary=summary or (fn.__doc__ or fn.__name__).strip().splitlines()[0],
            tags=list(tags),
            body=body,
            query=query,
            response=response,
            status=status,
            security=security,
            content_type=content_type,
            responses=dict(responses or {}),
        )

        @wraps(fn)
        def view(**kwargs):
            if body is not None:
                kwargs["body"] = parse_json_body(body)
            if query is not None:
                kwargs["query"] = parse_query(query)
            return _render(fn(**kwargs), status)

        view.openapi = op  # type: ignore[attr-defined]
        bp.add_url_rule(rule, endpoint=endpoint or fn.__name__, view_func=view, methods=list(methods))
        return view

    return decorator


def document(view: Callable, op: Operation) -> Callable:
    """Attach a declaration to a view registered some other way (e.g. by a library)."""
    view.openapi = op  # type: ignore[attr-defined]
    return view


_PARAM = re.compile(r"<(?:(?P<conv>[a-z]+):)?(?P<name>[a-zA-Z_][a-zA-Z0-9_]*)>")
_CONVERTER_TYPES = {"int": "integer", "float": "number", None: "string", "string": "string", "path": "string"}
UNDOCUMENTED_ENDPOINTS = {"static"}
# Blueprints of HTML pages (the admin console), not API: none of their endpoints is listed.
UNDOCUMENTED_BLUEPRINTS = {"console"}


def is_undocumented(endpoint: str) -> bool:
    return endpoint in UNDOCUMENTED_ENDPOINTS or endpoint.split(".", 1)[0] in UNDOCUMENTED_BLUEPRINTS


def openapi_path(rule: str) -> tuple[str, list[dict[str, Any]]]:
    params = [
        {
            "name": m.group("name"),
            "in": "path",
            "required": True,
            "schema": {"type": _CONVERTER_TYPES.get(m.group("conv"), "string")},
        }
        for m in _PARAM.finditer(rule)
    ]
    return _PARAM.sub(lambda m: "{" + m.group("name") + "}", rule), params


def _schema_ref(model: Any, refs: dict[Any, dict]) -> dict[str, Any]:
    if isinstance(model, type) and issubclass(model, BaseModel):
        return refs[(model, "serialization")]
    if model is None:
        return {}
    return TypeAdapter(model).json_schema(ref_template="#/components/schemas/{model}")


def build_spec(app: Flask, *, title: str = "Loyalty Loop", version: str = "1") -> dict[str, Any]:
    ops: list[tuple[str, str, Callable, str]] = []
    models: set[type[BaseModel]] = set()
    for rule in app.url_map.iter_rules():
        if is_undocumented(rule.endpoint):
            continue
        view = app.view_functions[rule.endpoint]
        op: Operation | None = getattr(view, "openapi", None)
        if op is None:
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            ops.append((rule.rule, method.lower(), view, rule.endpoint))
        for m in (op.body, op.query, op.response):
            if isinstance(m, type) and issubclass(m, BaseModel):
                models.add(m)
    ordered = sorted(models, key=lambda m: m.__name__)
    refs, top = models_json_schema(
        [(m, "serialization") for m in ordered] + [(m, "validation") for m in ordered],
        ref_template="#/components/schemas/{model}",
    )
    schemas = dict(top.get("$defs", {}))
    schemas["Error"] = ERROR_SCHEMA
    paths: dict[str, dict[str, Any]] = {}
    operation_ids: set[str] = set()
    for rule, method, view, endpoint in ops:
        op = view.openapi
        path, params = openapi_path(rule)
        if op.query is not None:
            qschema = op.query.model_json_schema()
            required = set(qschema.get("required", []))
            for name, prop in qschema.get("properties", {}).items():
                params.append({"name": name, "in": "query", "required": name in required, "schema": prop})
        responses: dict[str, Any] = {}
        ok: dict[str, Any] = {"description": "OK"}
        if op.response is not None:
            ok["content"] = {op.content_type: {"schema": _schema_ref(op.response, refs)}}
        elif op.content_type != "application/json":
            ok["content"] = {op.content_type: {"schema": {"type": "string"}}}
        responses[str(op.status)] = ok
        for code, description in sorted(op.responses.items()):
            responses[str(code)] = {
                "description": description,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            }
        operation_id = f"{method}_{view.__name__}"
        if operation_id in operation_ids:  # one view on two URLs: name it by its endpoint
            operation_id = f"{method}_{endpoint.replace('.', '_')}"
        operation_ids.add(operation_id)
        entry: dict[str, Any] = {
            "operationId": operation_id,
            "summary": op.summary,
            "tags": op.tags,
            "parameters": params,
            "responses": responses,
        }
        if op.body is not None:
            entry["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": refs[(op.body, "validation")]}},
            }
        if op.security:
            entry["security"] = [{op.security: []}]
        paths.setdefault(path, {})[method] = entry
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "staffToken": {"type": "http", "scheme": "bearer"},
                "storefrontSignature": {"type": "apiKey", "in": "header", "name": "X-Loyalty-Signature"},
                "webhookSignature": {"type": "apiKey", "in": "header", "name": "X-Shopify-Hmac-Sha256"},
                "checkoutSessionToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
            },
        },
    }


def undocumented_rules(app: Flask) -> list[str]:
    """Rules whose view carries no declaration: the OpenAPI test fails on any."""
    return sorted(
        f"{sorted((r.methods or set()) - {'HEAD', 'OPTIONS'})} {r.rule}"
        for r in app.url_map.iter_rules()
        if not is_undocumented(r.endpoint)
        and getattr(app.view_functions[r.endpoint], "openapi", None) is None
    )

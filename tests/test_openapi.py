"""/openapi.json documents every route of the app, with the schemas clients build on."""

from __future__ import annotations

from app.openapi import is_undocumented, openapi_path, undocumented_rules

HTTP_METHODS = {"get", "post", "put", "patch", "delete"}


def resolve(spec, schema):
    ref = schema.get("$ref", "")
    assert ref.startswith("#/components/schemas/"), schema
    name = ref.rsplit("/", 1)[-1]
    assert name in spec["components"]["schemas"], f"{ref} is not in components"
    return spec["components"]["schemas"][name]


def test_document_is_openapi_3_1(client):
    r = client.get("/openapi.json")
    assert r.status_code == 200 and r.is_json
    spec = r.get_json()
    assert spec["openapi"].startswith("3.1")
    assert spec["info"]["title"] and spec["info"]["version"]
    assert spec["components"]["schemas"]["Error"]["required"] == ["error"]
    assert spec["components"]["securitySchemes"]["staffToken"] == {
        "type": "http",
        "scheme": "bearer",
    }
    for path, item in spec["paths"].items():
        assert path.startswith("/") and "<" not in path, path
        for method, op in item.items():
            assert method in HTTP_METHODS, (path, method)
            assert op["responses"], (path, method)
            assert len({p["name"] for p in op["parameters"]}) == len(op["parameters"])
            for name in [seg[1:-1] for seg in path.split("/") if seg.startswith("{")]:
                assert any(p["in"] == "path" and p["name"] == name for p in op["parameters"])


def test_every_url_rule_is_documented(app, client):
    assert undocumented_rules(app) == []
    spec = client.get("/openapi.json").get_json()
    rules = [r for r in app.url_map.iter_rules() if not is_undocumented(r.endpoint)]
    assert len(rules) >= 8
    for rule in rules:
        path, _ = openapi_path(rule.rule)
        assert path in spec["paths"], f"{rule.rule} is missing from /openapi.json"
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            assert method.lower() in spec["paths"][path], f"{method} {rule.rule} is missing"
        if rule.rule.startswith("/admin/api/v1"):
            for op in spec["paths"][path].values():
                assert op["security"] == [{"staffToken": []}], rule.rule


def test_adjustment_request_and_response_schemas(client):
    spec = client.get("/openapi.json").get_json()
    op = spec["paths"]["/admin/api/v1/customers/{customer_id}/adjustments"]["post"]
    body = resolve(spec, op["requestBody"]["content"]["application/json"]["schema"])
    assert set(body["required"]) == {"points", "reason"}
    assert body["properties"]["points"]["type"] == "integer"
    assert body["properties"]["points"]["maximum"] == 1_000_000
    assert body["additionalProperties"] is False
    created = resolve(spec, op["responses"]["201"]["content"]["application/json"]["schema"])
    assert {"entry", "points_balance"} <= set(created["properties"])
    entry = resolve(spec, created["properties"]["entry"])
    assert {"id", "points", "kind", "status", "reason", "created_at"} <= set(entry["properties"])
    for status in ("401", "403", "404", "422"):
        assert resolve(spec, op["responses"][status]["content"]["application/json"]["schema"])

    listing = spec["paths"]["/admin/api/v1/customers"]["get"]
    assert {"query", "platform_id", "cursor", "limit"} <= {p["name"] for p in listing["parameters"]}
    page = resolve(spec, listing["responses"]["200"]["content"]["application/json"]["schema"])
    assert set(page["properties"]) == {"data", "next_cursor"}

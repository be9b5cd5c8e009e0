"""Answers for the install routes, which a merchant's browser opens: a short HTML page
for a browser, the usual JSON error for anything else."""

from __future__ import annotations

from html import escape

from flask import Response, jsonify, request

from app.errors import AppError

NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"}

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#222}}
code{{background:#f3f3f3;padding:0 .2rem}}</style></head>
<body><h1>{title}</h1><p>{message}</p><p><small>Error code: <code>{code}</code></small></p></body></html>
"""


def wants_html() -> bool:
    return request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html"


def error_response(exc: AppError) -> tuple[Response, int]:
    if wants_html():
        title = "The app could not be installed" if request.path.startswith("/shopify") \
            else "The store could not be connected"
        html = _PAGE.format(title=escape(title), message=escape(exc.message), code=escape(exc.code))
        return Response(html, mimetype="text/html", headers=NO_STORE), exc.status
    body = {"code": exc.code, "message": exc.message}
    if exc.details is not None:
        body["details"] = exc.details
    response = jsonify({"error": body})
    response.headers.update(NO_STORE)
    return response, exc.status

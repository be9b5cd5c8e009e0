"""Balance imports and the ledger export in the admin JSON API.

`POST /imports` takes a multipart upload (`file`, optional `format` and `dry_run`), stores
it as a `BalanceImport` and queues `app.imports.jobs.run_balance_import` after the commit;
`GET /imports/<id>` reports its progress and, when done, its counts and every bad row.
`GET /exports/ledger.csv` streams the shop's whole ledger as CSV. Admin role and up:
an import changes balances, and the export carries every customer's email.
"""

from __future__ import annotations

from datetime import datetime

from flask import Response, g, request, stream_with_context
from pydantic import BaseModel, Field
from sqlalchemy import select

from app.admin.api import bp
from app.admin.auth import require_staff
from app.admin.pagination import MAX_ID, PageQuery, keyset_page
from app.errors import NotFound, ValidationFailed
from app.imports.balances import file_sha256
from app.imports.export import ledger_csv
from app.imports.formats import FORMATS, decode
from app.imports.jobs import JOB_OPTIONS, QUEUE, run_balance_import
from app.jobs.queues import enqueue
from app.models import BalanceImport
from app.openapi import api_route
from app.web import database, db_session

TAGS = ["imports"]
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


class ImportErrorOut(BaseModel):
    line: int = Field(description="Line in the file (1 is the header row).")
    code: str = Field(
        description="bad_email, bad_points, negative_points, duplicate_row, missing_identity, "
        "unknown_columns, bad_file or conflict."
    )
    reason: str


class ImportOut(BaseModel):
    id: int
    filename: str
    file_sha256: str
    format: str = Field(description="The format asked for (`auto` detects it).")
    detected_format: str | None
    dry_run: bool
    status: str = Field(description="queued, running, done or failed.")
    total_rows: int = Field(description="Customers in the file (known once the job starts).")
    processed_rows: int
    progress_percent: int
    changed_rows: int = Field(description="Balances changed (dry run: that would change).")
    unchanged_rows: int
    created_customers: int
    applied: bool = Field(description="The balances were written (done, not a dry run, no bad rows).")
    errors: list[ImportErrorOut]
    message: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class ImportList(BaseModel):
    data: list[ImportOut]
    next_cursor: str | None


def import_out(record: BalanceImport) -> ImportOut:
    total = record.total_rows or 0
    if record.status == "done":
        percent = 100
    else:
        percent = (100 * record.processed_rows // total) if total else 0
    errors = list(record.errors or [])
    return ImportOut(
        id=record.id,
        filename=record.filename,
        file_sha256=record.file_sha256,
        format=record.requested_format,
        detected_format=record.detected_format,
        dry_run=record.dry_run,
        status=record.status,
        total_rows=total,
        processed_rows=record.processed_rows,
        progress_percent=percent,
        changed_rows=record.changed_rows,
        unchanged_rows=record.unchanged_rows,
        created_customers=record.created_customers,
        applied=record.status == "done" and not record.dry_run and not errors,
        errors=[ImportErrorOut(**e) for e in errors],
        message=record.message,
        created_at=record.created_at,
        started_at=record.started_at,
        finished_at=record.finished_at,
    )


def _flag(value: str | None, name: str) -> bool:
    text = (value or "").strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValidationFailed(f"{name} must be true or false, got {value!r}")


def create_import(shop_id: int, staff_user_id: int | None) -> BalanceImport:
    """Validate the multipart request, store the import and queue its job (shared with the
    console's upload form)."""
    request.max_content_length = MAX_UPLOAD_BYTES
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise ValidationFailed("a CSV file is required in the multipart field `file`")
    fmt = (request.form.get("format") or "auto").strip().lower()
    if fmt not in FORMATS:
        raise ValidationFailed(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    dry_run = _flag(request.form.get("dry_run"), "dry_run")
    data = upload.read()
    if not data.strip():
        raise ValidationFailed("the file is empty")
    try:
        text = decode(data)
    except ValueError as exc:
        raise ValidationFailed(str(exc)) from None
    if "\x00" in text:
        raise ValidationFailed("the file contains NUL characters; it is not a CSV file")
    session = db_session()
    record = BalanceImport(
        shop_id=shop_id,
        staff_user_id=staff_user_id,
        filename=(upload.filename or "upload.csv")[:255],
        file_sha256=file_sha256(data),
        content=text,
        requested_format=fmt,
        dry_run=dry_run,
        status="queued",
        total_rows=0,
        processed_rows=0,
        changed_rows=0,
        unchanged_rows=0,
        created_customers=0,
        errors=[],
    )
    session.add(record)
    session.flush()
    enqueue(session, run_balance_import, record.id, queue=QUEUE, options=dict(JOB_OPTIONS))
    session.commit()
    return record


def get_import(shop_id: int, import_id: int) -> BalanceImport:
    if not 0 < import_id <= MAX_ID:
        raise NotFound(f"import {import_id} not found")
    record = db_session().scalar(
        select(BalanceImport)
        .where(BalanceImport.id == import_id, BalanceImport.shop_id == shop_id)
        .execution_options(populate_existing=True)
    )
    if record is None:
        raise NotFound(f"import {import_id} not found")
    return record


def ledger_download(shop_id: int) -> Response:
    """The streamed CSV response (its own session: the request's closes before the stream)."""
    db = database()

    def generate():
        with db.session() as session:
            yield from ledger_csv(session, shop_id)

    return Response(
        stream_with_context(generate()),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="ledger-shop-{shop_id}.csv"',
            "Cache-Control": "no-store",
        },
    )


@api_route(
    bp,
    "/imports",
    methods=["POST"],
    response=ImportOut,
    status=202,
    tags=TAGS,
    security="staffToken",
    summary="Upload a balance CSV (multipart: file, format, dry_run); runs as a job",
    responses={
        401: "no or bad staff token",
        403: "needs the admin role",
        413: "file larger than 20 MiB",
        422: "no file, not UTF-8, bad format or dry_run",
    },
)
@require_staff("admin")
def post_import() -> ImportOut:
    record = create_import(g.shop_id, g.staff.id)
    return import_out(get_import(g.shop_id, record.id))


@api_route(
    bp,
    "/imports",
    methods=["GET"],
    query=PageQuery,
    response=ImportList,
    tags=TAGS,
    security="staffToken",
    summary="This shop's balance imports, newest first",
    responses={401: "no or bad staff token", 403: "needs the admin role", 422: "bad cursor"},
)
@require_staff("admin")
def list_imports(query: PageQuery) -> ImportList:
    stmt = select(BalanceImport).where(BalanceImport.shop_id == g.shop_id)
    rows, next_cursor = keyset_page(
        db_session(), stmt, BalanceImport.id, cursor=query.cursor, limit=query.limit
    )
    return ImportList(data=[import_out(r) for r in rows], next_cursor=next_cursor)


@api_route(
    bp,
    "/imports/<int:import_id>",
    methods=["GET"],
    response=ImportOut,
    tags=TAGS,
    security="staffToken",
    summary="One balance import: status, progress, counts and every bad row",
    responses={401: "no or bad staff token", 403: "needs the admin role", 404: "no such import"},
)
@require_staff("admin")
def show_import(import_id: int) -> ImportOut:
    return import_out(get_import(g.shop_id, import_id))


@api_route(
    bp,
    "/exports/ledger.csv",
    methods=["GET"],
    tags=TAGS,
    security="staffToken",
    content_type="text/csv",
    summary="Every ledger entry of this shop as CSV (streamed)",
    responses={401: "no or bad staff token", 403: "needs the admin role"},
)
@require_staff("admin")
def export_ledger_csv() -> Response:
    return ledger_download(g.shop_id)


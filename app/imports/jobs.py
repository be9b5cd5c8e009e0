"""The RQ job behind an admin upload: run one `BalanceImport` and record its progress.

`run_balance_import(import_id)` (queue `low`) reads the stored file, checks or applies it
chunk by chunk through `app.imports.balances.run_import`, and after every chunk writes
`processed_rows` (and the RQ job's `meta["progress"]`) so the admin page can show how far
it got. Running it twice is safe: a finished import is left alone, and a retried one
posts nothing twice (the ledger keys of `app.imports.balances`).
"""

from __future__ import annotations

import logging

from sqlalchemy import update

from app.imports.balances import ImportResult, run_import
from app.imports.formats import parse_balances
from app.models import BalanceImport, utcnow
from app.runtime import get_db

log = logging.getLogger(__name__)
QUEUE = "low"
# RQ's default timeout (180 s) is far too short: a posting costs a few milliseconds and a
# file may hold 200,000 customers. A job killed anyway is safe to run again.
JOB_OPTIONS = {"job_timeout": 2 * 60 * 60}


def _save(db, import_id: int, **values) -> None:
    with db.transaction() as session:
        session.execute(update(BalanceImport).where(BalanceImport.id == import_id).values(**values))


def _job_meta(processed: int, total: int) -> None:
    try:
        from rq import get_current_job
    except ImportError:  # pragma: no cover - rq is a dependency
        return
    job = get_current_job()
    if job is not None:
        job.meta["progress"] = {"processed": processed, "total": total}
        job.save_meta()


def run_balance_import(import_id: int) -> dict[str, int] | None:
    db = get_db()
    with db.session() as session:
        record = session.get(BalanceImport, import_id)
        if record is None or record.status in ("done", "failed"):
            return None
        shop_id, content, fmt = record.shop_id, record.content, record.requested_format
        dry_run, filename, staff_user_id = record.dry_run, record.filename, record.staff_user_id
    parsed = parse_balances(content, fmt)
    total = len(parsed.rows)
    _save(
        db, import_id, status="running", started_at=utcnow(), detected_format=parsed.format,
        total_rows=total, processed_rows=0,
    )

    def progress(result: ImportResult) -> None:
        _save(db, import_id, processed_rows=result.processed)
        _job_meta(result.processed, total)

    try:
        result = run_import(
            db, shop_id, parsed, dry_run=dry_run, source=filename,
            staff_user_id=staff_user_id, on_progress=progress,
        )
    except Exception as exc:
        _save(db, import_id, status="failed", finished_at=utcnow(), message=str(exc)[:2000])
        raise
    refused = bool(result.errors) and not dry_run
    _save(
        db, import_id,
        status="done",
        finished_at=utcnow(),
        processed_rows=result.processed,
        changed_rows=result.changed,
        unchanged_rows=result.unchanged,
        created_customers=result.created,
        errors=[e.as_dict() for e in result.errors],
        message=(
            f"{len(result.errors)} bad rows; nothing was imported" if refused
            else f"dry run: {result.changed} balances would change" if dry_run
            else f"{result.changed} balances changed, {result.created} customers created"
        ),
    )
    log.info("balance import %s finished: %s changed, %s errors", import_id, result.changed, len(result.errors))
    _job_meta(result.processed, total)
    return {"processed": result.processed, "changed": result.changed, "errors": len(result.errors)}


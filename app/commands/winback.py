"""`loyalty winback run --shop ID [--now ISO8601]`: one win-back pass for one shop, here and
now (or as of a given instant), printing its progress and counts. Chunks are handled in
this process; the mail goes through the `mail` queue (inline without `REDIS_URL`)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import click

from app.errors import NotFound, ValidationFailed


@click.group("winback")
def command() -> None:
    """Win-back offers to lapsing shoppers."""


@command.command("run")
@click.option("--shop", "shop_id", type=int, required=True, help="Shop id.")
@click.option("--now", "now", default=None, help="Run as of this ISO 8601 instant (default: now; no zone = UTC).")
@click.option("--json", "as_json", is_flag=True, help="Print the final counts as one JSON object.")
def run(shop_id: int, now: str | None, as_json: bool) -> None:
    """Select the shop's at-risk and lapsed shoppers and make their offers."""
    from app.cli import runtime
    from app.jobs.winback_jobs import run_winback
    from app.models import Shop

    as_of = _parse(now)
    db = runtime().db
    with db.session() as session:
        if session.get(Shop, shop_id) is None:
            raise NotFound(f"shop {shop_id} not found")

    def progress(counts: dict) -> None:
        if as_json:
            return
        stage = counts["stage"]
        if stage == "selected":
            click.echo(f"selected {counts['selected']} shoppers (at risk {counts['at_risk']}, "
                       f"lapsed {counts['lapsed']}) in {counts['chunks']} chunks")
        elif stage == "offering":
            click.echo(f"chunk {counts['chunks_done']}/{counts['chunks']}: offered {counts.get('offered', 0)}, "
                       f"holdout {counts.get('holdout', 0)}, codes pending {counts.get('pending_code', 0)}")
        elif stage == "skipped":
            click.echo(f"skipped: {counts['skipped']}")

    counts = run_winback(shop_id, as_of, inline=True, progress=progress)
    if as_json:
        click.echo(json.dumps(counts, sort_keys=True))
        return
    if "skipped" in counts:
        return
    keys = ("offered", "holdout", "pending_code", "already_offered", "refused", "failed",
            "codes_retried", "points_expired")
    click.echo("done: " + ", ".join(f"{k.replace('_', ' ')} {counts.get(k, 0)}" for k in keys))


def _parse(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationFailed(f"--now {value!r} is not an ISO 8601 date-time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)

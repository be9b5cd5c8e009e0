"""`loyalty import-balances` and `loyalty export-ledger` (added to the `loyalty` group by
`app.cli`)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from app.errors import NotFound, ValidationFailed
from app.imports.formats import FORMATS

EXIT_BAD_ROWS = 1


def _runtime():
    from app.cli import runtime

    return runtime()


def _check_shop(session, shop_id: int) -> None:
    from app.models import Shop

    if session.get(Shop, shop_id) is None:
        raise NotFound(f"shop {shop_id} not found")


@click.command("import-balances")
@click.option("--shop", "shop_id", type=int, required=True, help="Shop id.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check every row and report; change nothing.")
@click.option(
    "--format", "fmt", type=click.Choice(FORMATS), default="auto", show_default=True,
    help="The file's layout (see docs/import-export.md).",
)
def import_balances(shop_id: int, file: Path, dry_run: bool, fmt: str) -> None:
    """Set customers' points balances from a CSV file (this app's, Smile.io's, LoyaltyLion's
    or Yotpo's layout). Customers are matched by platform id, then email, and created when
    missing. Importing the same file again changes nothing; an import sends no mail."""
    from app.imports.balances import run_import
    from app.imports.formats import decode, parse_balances

    try:
        text = decode(file.read_bytes())
    except ValueError as exc:
        raise ValidationFailed(f"{file.name}: {exc}") from None
    parsed = parse_balances(text, fmt)
    db = _runtime().db
    with db.session() as session:
        _check_shop(session, shop_id)
    if parsed.format:
        click.echo(f"{file.name}: {parsed.format} layout, {len(parsed.rows)} customers", err=True)
    label = "Checking" if dry_run else "Importing"
    with click.progressbar(
        length=max(len(parsed.rows), 1), label=label, file=sys.stderr, show_pos=True
    ) as bar:
        seen = [0]

        def progress(result) -> None:
            bar.update(result.processed - seen[0])
            seen[0] = result.processed

        result = run_import(
            db, shop_id, parsed, dry_run=dry_run, source=file.name, on_progress=progress
        )
    for error in result.errors:
        click.echo(f"line {error.line}: {error.code}: {error.reason}")
    if result.errors:
        click.echo(
            f"{len(result.errors)} bad rows; nothing was imported. Fix them and run again.", err=True
        )
        sys.exit(EXIT_BAD_ROWS)
    verb = "would change" if dry_run else "changed"
    click.echo(
        f"{'dry run: ' if dry_run else ''}{result.processed} customers: {verb} {result.changed} "
        f"balances ({result.points_delta:+d} points), {result.unchanged} unchanged, "
        f"{result.created} {'to create' if dry_run else 'created'}"
    )


@click.command("export-ledger")
@click.option("--shop", "shop_id", type=int, required=True, help="Shop id.")
@click.option(
    "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="Write to this file (default: standard output).",
)
def export_ledger(shop_id: int, output: Path | None) -> None:
    """Every ledger entry of a shop as CSV, with the customer's platform id and email."""
    from app.imports.export import ledger_csv

    db = _runtime().db
    with db.session() as session:
        _check_shop(session, shop_id)
        if output is None:
            for line in ledger_csv(session, shop_id):
                click.echo(line, nl=False)
            return
        with output.open("w", encoding="utf-8", newline="") as handle:
            for line in ledger_csv(session, shop_id):
                handle.write(line)
    click.echo(f"wrote {output}", err=True)

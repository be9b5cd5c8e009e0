"""The console dashboard: the programme's KPIs for a period, with charts drawn on the
server as inline SVG (no script, no outside host: the console's CSP allows neither), and
every figure linked to its definition at the foot of the page (the same ids as
docs/analytics.md). The figures come from `app.analytics.summary.build_summary`."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from flask import g, render_template, request
from pydantic import ValidationError

from app.admin.analytics import PeriodQuery, period
from app.analytics import kpis
from app.analytics.summary import Figure, Summary, build_summary
from app.console import auth, bp
from app.console.formatting import money
from app.errors import ValidationFailed
from app.models import utcnow
from app.web import db_session

# Chart geometry (SVG user units).
WIDTH, HEIGHT, PAD_LEFT, PAD_BOTTOM, PAD_TOP = 640, 220, 64, 28, 12
SERIES = (("issued", "Issued", "#2f6fdf"), ("redeemed", "Redeemed", "#1e8e3e"), ("expired", "Expired", "#c5221f"))


def show(figure: Figure, currency: str) -> str:
    if figure.value is None:
        return "–"
    if figure.unit == "ratio":
        return f"{Decimal(figure.value) * 100:.1f}%"
    if figure.unit == "minor":
        return money(int(figure.value), currency)
    return f"{int(figure.value):,}"


def _nice_max(value: int) -> int:
    """A round axis maximum at or above `value` (1, 2 or 5 times a power of ten)."""
    if value <= 0:
        return 1
    step = 1
    while True:
        for m in (1, 2, 5):
            if m * step >= value:
                return m * step
        step *= 10


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    color: str
    label: str


@dataclass(frozen=True)
class Tick:
    y: float
    label: str


def _ticks(top: int, fmt) -> list[Tick]:
    plot = HEIGHT - PAD_BOTTOM - PAD_TOP
    return [Tick(PAD_TOP + plot - plot * i / 4, fmt(top * i // 4)) for i in range(5)]


def flow_chart(summary: Summary) -> dict:
    """Grouped bars: points issued, redeemed and expired per month."""
    months = summary.months
    top = _nice_max(max([max(m.issued, m.redeemed, m.expired) for m in months] + [0]))
    plot_w, plot_h = WIDTH - PAD_LEFT - 8, HEIGHT - PAD_BOTTOM - PAD_TOP
    slot = plot_w / max(len(months), 1)
    bar_w = max(slot / (len(SERIES) + 1), 1.0)
    bars, labels = [], []
    for i, m in enumerate(months):
        for j, (attr, name, color) in enumerate(SERIES):
            value = getattr(m, attr)
            h = plot_h * value / top
            x = PAD_LEFT + i * slot + bar_w * (j + 0.5)
            bars.append(Bar(round(x, 1), round(PAD_TOP + plot_h - h, 1), round(bar_w, 1), round(h, 1), color,
                            f"{m.month} {name.lower()}: {value:,} points"))
        labels.append((round(PAD_LEFT + i * slot + slot / 2, 1), m.month))
    return {"bars": bars, "labels": labels, "ticks": _ticks(top, lambda v: f"{v:,}"), "series": SERIES}


def liability_chart(summary: Summary) -> dict:
    """A line: the points liability in money at the end of each month."""
    months = summary.months
    top = _nice_max(max([m.liability_minor for m in months] + [0]))
    plot_w, plot_h = WIDTH - PAD_LEFT - 40, HEIGHT - PAD_BOTTOM - PAD_TOP
    step = plot_w / max(len(months) - 1, 1)
    points = []
    for i, m in enumerate(months):
        x = PAD_LEFT + (i * step if len(months) > 1 else plot_w / 2)
        y = PAD_TOP + plot_h - plot_h * m.liability_minor / top
        points.append((round(x, 1), round(y, 1), m.month, money(m.liability_minor, summary.currency)))
    return {
        "points": points,
        "polyline": " ".join(f"{x},{y}" for x, y, _, _ in points),
        "ticks": _ticks(top, lambda v: money(v, summary.currency)),
    }


def comparison_chart(summary: Summary) -> list[dict]:
    """Members beside non-members: one pair of horizontal bars per figure."""
    rows = []
    pairs = zip(summary.groups["members"], summary.groups["non_members"], strict=True)
    for member, other in pairs:
        if member.definition == "customers-with-orders":
            continue
        values = [member.value or 0, other.value or 0]
        top = max(values) or 1
        rows.append({
            "definition": member.definition,
            "title": kpis.DEFINITIONS[member.definition][0],
            "bars": [
                {"who": "Members", "width": round(300 * Decimal(values[0]) / Decimal(top), 1),
                 "text": show(member, summary.currency), "color": "#2f6fdf"},
                {"who": "Non-members", "width": round(300 * Decimal(values[1]) / Decimal(top), 1),
                 "text": show(other, summary.currency), "color": "#9aa5b1"},
            ],
        })
    return rows


def winback_chart(results: dict | None) -> dict | None:
    """The lift (difference of return rates) with its 95% interval, on a -x..x scale."""
    if not results or results.get("rate_difference") is None or not results.get("rate_difference_ci"):
        return None
    d = float(results["rate_difference"])
    low, high = (float(v) for v in results["rate_difference_ci"])
    span = max(abs(low), abs(high), abs(d), 0.01) * 1.1

    def x(v: float) -> float:
        return round(20 + 280 * (v + span) / (2 * span), 1)

    return {
        "zero": x(0), "low": x(low), "high": x(high), "point": x(d),
        "text": f"{d * 100:+.1f} points ({low * 100:+.1f} to {high * 100:+.1f})",
    }


@bp.route("/dashboard", methods=["GET"])
@auth.require("dashboard.view")
def dashboard():
    error = None
    try:
        query = PeriodQuery.model_validate(
            {k: v for k, v in request.args.items() if k in ("from", "to") and v}
        )
    except ValidationError as exc:
        error = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
        query = PeriodQuery()
    now = utcnow()
    try:
        first, last, start, end = period(query, now)
    except ValidationFailed as exc:
        error = exc.message
        first, last, start, end = period(PeriodQuery(), now)
    summary = build_summary(db_session(), g.shop_id, start, end, now)
    return render_template(
        "console/dashboard.html",
        summary=summary,
        first=first,
        last=last,
        error=error,
        show=show,
        money=money,
        programme={f.id: f for f in summary.programme},
        groups=summary.groups,
        flow=flow_chart(summary),
        liability=liability_chart(summary),
        comparison=comparison_chart(summary),
        winback=winback_chart(summary.winback),
        definitions=kpis.DEFINITIONS,
        width=WIDTH,
        height=HEIGHT,
        pad_left=PAD_LEFT,
        pad_bottom=PAD_BOTTOM,
    )

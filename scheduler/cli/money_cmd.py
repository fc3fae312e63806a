"""`spotsched cost | status`: the money (from the ledger) and the daemon's health, for people
and for scripts (`--json`, stable snake_case fields). Read-only.
"""

from __future__ import annotations

import ssl
from collections import Counter
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

import httpx
import typer
from rich.markup import escape
from rich.table import Table

from scheduler.cli.common import (
    EXIT_INVALID,
    EXIT_UNHEALTHY,
    ConfigOption,
    DbOption,
    JsonOption,
    cell,
    fail,
    money,
    opened_store,
    out,
    print_json,
    settings_from,
    store_at,
    utc_now,
)
from scheduler.cli.fleet_cmd import SPOT_UNAVAILABLE
from scheduler.daemon.config import MetricsSection, Settings
from scheduler.domain.durations import format_duration, parse_duration
from scheduler.domain.states import JobState

HEALTHZ_TIMEOUT = 2.0


class CostBy(StrEnum):
    JOB = "job"
    GPU = "gpu"
    DAY = "day"
    KIND = "kind"


def parse_since(text: str | None, now: datetime) -> datetime | None:
    """A date or time (ISO 8601, UTC unless it says otherwise) or a duration back from now."""
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        try:
            return now - timedelta(seconds=parse_duration(text))
        except ValueError:
            fail(
                f"--since {text!r}: give a date (2026-11-01) or a duration (7d, 12h)", EXIT_INVALID
            )
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _with_percent(entry: dict[str, Any]) -> dict[str, Any]:
    od = entry["on_demand_cost"]
    entry["savings_percent"] = 100 * entry["savings"] / od if od > 0 else None
    return entry


def cost_summary(rows: list[dict[str, Any]], by: str, since: datetime | None) -> dict[str, Any]:
    keys = ("spend", "on_demand_cost", "savings", "waste", "gpu_hours")
    total = {k: sum((float(r[k]) for r in rows), 0.0) for k in keys}
    return {
        "by": by,
        "since": since.date().isoformat() if since else None,
        "rows": [_with_percent(dict(r)) for r in rows],
        "total": _with_percent(total),
    }


def cost(
    since: Annotated[
        str | None,
        typer.Option(help="From this UTC day on: a date (2026-11-01) or a duration (7d)."),
    ] = None,
    by: Annotated[CostBy, typer.Option(help="Group by job, gpu, day or kind.")] = CostBy.JOB,
    config: ConfigOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Spend from the ledger against the on-demand counterfactual: savings, waste, GPU-hours."""
    start = parse_since(since, utc_now())
    with opened_store(config, db) as (store, _settings):
        summary = cost_summary(store.cost_report(start, by.value), by.value, start)
    if as_json:
        print_json(summary)
        return
    when = f" since {summary['since']} (whole UTC days)" if start else ""
    table = Table(title=f"cost by {by.value}{when}")
    first = ["job", "name"] if by is CostBy.JOB else [by.value]
    for col in (*first, "spend", "on-demand would cost", "saved", "saved %", "wasted", "GPU-h"):
        table.add_column(col, justify="left" if col in first else "right", overflow="fold")

    def cells(e: dict[str, Any]) -> list[str]:
        pct = e["savings_percent"]
        return [
            money(e["spend"]),
            money(e["on_demand_cost"]),
            money(e["savings"]),
            "-" if pct is None else f"{pct:.0f}%",
            money(e["waste"]),
            f"{e['gpu_hours']:.2f}",
        ]

    for r in summary["rows"]:
        table.add_row(*[cell(r[k]) for k in first], *cells(r))
    table.add_section()
    table.add_row("[bold]total[/]", *[""] * (len(first) - 1), *cells(summary["total"]))
    out.print(table)


# ---------------------------------------------------------------------------------- status


def probe_healthz(m: MetricsSection) -> dict[str, Any]:
    """GET /healthz of the configured metrics endpoint (loopback when it listens on all)."""
    result: dict[str, Any] = {"enabled": m.enabled, "host": m.host, "port": m.port, "url": None}
    result |= {"reachable": None, "healthy": None, "detail": None}
    if not m.enabled:
        return result | {"detail": "disabled in [metrics]"}
    if m.port == 0:
        return result | {"detail": "port 0 (picked at start): not probed"}
    # A daemon listening on every interface answers on loopback.
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(m.host, m.host)  # noqa: S104
    host = f"[{host}]" if ":" in host else host
    scheme = "https" if m.tls_cert_file else "http"
    result["url"] = url = f"{scheme}://{host}:{m.port}/healthz"
    try:
        verify: ssl.SSLContext | bool = True
        if m.tls_cert_file:
            # Trust exactly the daemon's own certificate (often self-signed, for any name).
            verify = ssl.create_default_context(cafile=m.tls_cert_file)
            verify.check_hostname = False
            verify.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
        response = httpx.get(url, timeout=HEALTHZ_TIMEOUT, verify=verify)
    except (httpx.HTTPError, OSError) as exc:
        return result | {"reachable": False, "detail": f"{type(exc).__name__}: {exc}"[:200]}
    body = response.text.strip()[:200]
    return result | {"reachable": True, "healthy": response.status_code == 200, "detail": body}


def _last_tick(facts: dict[str, tuple[str, datetime | None]]) -> datetime | None:
    if "last_tick_at" not in facts:
        return None
    value, updated = facts["last_tick_at"]
    try:
        when: datetime | None = datetime.fromisoformat(value)
    except ValueError:
        when = updated
    if when is None:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _used(spent: float, limit: float | None) -> float | None:
    return None if limit is None else 100 * spent / limit


def status_report(
    settings: Settings,
    facts: dict[str, tuple[str, datetime | None]],
    by_day: list[dict[str, Any]],
    jobs: list[dict[str, Any]],
    now: datetime,
) -> dict[str, Any]:
    last = _last_tick(facts)
    age = (now - last).total_seconds() if last is not None else None
    stale_after = settings.scheduler.stale_after
    spot = facts.get("spot_capable", ("", None))[0]
    today = now.date().isoformat()
    spend_today = sum((r["spend"] for r in by_day if r["day"] == today), 0.0)
    spend_month = sum((r["spend"] for r in by_day), 0.0)
    b = settings.budget
    counts = Counter(j["state"] for j in jobs)
    return {
        "healthy": age is not None and age <= stale_after,
        "checked_at": now,
        "last_tick_at": last,
        "last_tick_age_seconds": age,
        "stale_after_seconds": stale_after,
        "spot_capable": {"yes": True, "no": False}.get(spot),
        "budget": {
            "spend_today": spend_today,
            "daily_limit": b.daily,
            "daily_used_percent": _used(spend_today, b.daily),
            "spend_month": spend_month,
            "monthly_limit": b.monthly,
            "monthly_used_percent": _used(spend_month, b.monthly),
            "max_spend_rate": b.max_spend_rate,
        },
        "jobs": {s.value: counts.get(s.value, 0) for s in JobState},
        "database": settings.database_url.split("://")[0],
        "installation": facts.get("installation_id", (None, None))[0],
    }


def _print_status(r: dict[str, Any]) -> None:
    age, last = r["last_tick_age_seconds"], r["last_tick_at"]
    stale = format_duration(r["stale_after_seconds"])
    if last is None:
        tick = "[bold red]no tick recorded[/] in this database (is `spotsched run` running?)"
    else:
        word = "[bold green]healthy[/]" if r["healthy"] else "[bold red]STALE[/]"
        ago = format_duration(max(age, 0.0))
        tick = f"{word}: last tick {last:%Y-%m-%d %H:%M:%S} UTC, {ago} ago (stale after {stale})"
    out.print(f"daemon   {tick}")
    if r["installation"]:
        inst = escape(r["installation"])
        out.print(f"install  {inst} (its pods are named spotsched-{inst}-<job>-<attempt>)")
    else:
        out.print("install  no installation id yet (`spotsched db upgrade` creates it)")
    spot = {True: "available", False: f"[yellow]{SPOT_UNAVAILABLE}[/]", None: "unknown"}
    out.print(f"spot     {spot[r['spot_capable']]}")
    m = r["metrics"]
    if m["url"] is None:
        health = m["detail"]
    elif not m["reachable"]:
        health = f"[red]not reachable[/] ({escape(m['detail'])})"
    else:
        health = escape(m["detail"]) if m["healthy"] else f"[red]{escape(m['detail'])}[/]"
    out.print(f"metrics  {m['url'] + ' ' if m['url'] else ''}{health}")
    b = r["budget"]
    parts = []
    for label, spent, limit, pct in (
        ("today", b["spend_today"], b["daily_limit"], b["daily_used_percent"]),
        ("this month", b["spend_month"], b["monthly_limit"], b["monthly_used_percent"]),
    ):
        cap = f" of {money(limit)} ({pct:.0f}%)" if limit is not None else " (no limit)"
        parts.append(f"{label} {money(spent)}{cap}")
    if b["max_spend_rate"] is not None:
        parts.append(f"spend-rate cap {money(b['max_spend_rate'])}/h")
    out.print("budget   " + ", ".join(parts))
    counts = ", ".join(f"{s} {n}" for s, n in r["jobs"].items() if n) or "none"
    out.print(f"jobs     {counts}")


def status(config: ConfigOption = None, db: DbOption = None, as_json: JsonOption = False) -> None:
    """Daemon health (last tick, /healthz), spot, budget use and job counts. Exit 4 when the
    last tick is older than scheduler.stale_after or there never was one."""
    settings = settings_from(config)
    now = utc_now()
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    with store_at(settings, db) as store:
        facts = store.facts()
        by_day = store.cost_report(month_start, "day")
        jobs = store.list_jobs(None, limit=10**9)
    report = status_report(settings, facts, by_day, jobs, now)
    report["metrics"] = probe_healthz(settings.metrics)
    if as_json:
        print_json(report)
    else:
        _print_status(report)
    if not report["healthy"]:
        raise typer.Exit(EXIT_UNHEALTHY)


def register(app: typer.Typer) -> None:
    app.command()(cost)
    app.command()(status)

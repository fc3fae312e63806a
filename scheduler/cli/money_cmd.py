"""`spotsched cost | status`: the money (from the ledger) and the daemon's health, for people
and for scripts (`--json`, stable snake_case fields). Read-only.
"""

from __future__ import annotations

import json
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
    database_absent,
    fail,
    markup_safe,
    money,
    opened_store,
    out,
    print_json,
    settings_from,
    store_at,
    utc_now,
)
from scheduler.cli.fleet_cmd import SPOT_NOT_ON_API, SPOT_UNAVAILABLE
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
    with opened_store(config, db, read_only=True) as (store, _settings):
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


def tick_errors(facts: dict[str, tuple[str, datetime | None]]) -> list[dict[str, Any]]:
    """What failed in the daemon's latest tick (the `tick_errors` fact), oldest format-proof:
    a fact that is not a JSON list of objects reads as no errors."""
    value, updated = facts.get("tick_errors", ("[]", None))
    try:
        entries = json.loads(value)
    except ValueError:
        return []
    if not isinstance(entries, list):
        return []
    at = updated.replace(tzinfo=UTC) if updated and updated.tzinfo is None else updated
    return [e | {"at": at} for e in entries if isinstance(e, dict)]


def cause(
    errors: list[dict[str, Any]], url: str, age: float | None, stale_after: float
) -> str | None:
    """The one sentence that says why the daemon is not working, from what it recorded."""
    auth = [e for e in errors if e.get("kind") == "authentication"]
    if auth:
        return (
            f"RunPod rejects the API key ({auth[0].get('operation')}: {auth[0].get('message')}): "
            "check RUNPOD_API_KEY, the runpod-api-key credential or [runpod] api_key_file"
        )
    transient = [e for e in errors if e.get("kind") == "transient"]
    if transient:
        message = str(transient[0].get("message"))
        gone = message.startswith(("could not reach RunPod", "RunPod did not answer"))
        return f"RunPod {'unreachable' if gone else 'failing'} at {url} ({message})"
    if errors:
        e = errors[0]
        return f"{e.get('operation')} failed: {e.get('message')}"
    if age is None:
        return "no tick recorded in this database: is `spotsched run` running on it?"
    if age > stale_after:
        return (
            f"no tick for {format_duration(age)} (stale after {format_duration(stale_after)}): "
            "is `spotsched run` running? (journalctl -u spotsched)"
        )
    return None


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
    errors = tick_errors(facts)
    url = facts.get("runpod_api_url", (settings.runpod.api_url, None))[0]
    return {
        "healthy": age is not None and age <= stale_after,
        "cause": cause(errors, url, age, stale_after),
        "tick_errors": errors,
        "runpod_api_url": url,
        "checked_at": now,
        "last_tick_at": last,
        "last_tick_age_seconds": age,
        "stale_after_seconds": stale_after,
        "spot_capable": {"yes": True, "no": False}.get(spot),
        "runpod_api": _api_serving(facts),
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


def _api_serving(facts: dict[str, tuple[str, datetime | None]]) -> dict[str, str] | None:
    """{"pods": "rest", "spot": "graphql", ...} as the daemon last recorded it (`runpod_api`)."""
    text = facts.get("runpod_api", ("", None))[0]
    pairs = [part.partition("=") for part in text.split()]
    return {k: v for k, _eq, v in pairs if k and v} or None


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
    if r["cause"] is not None:
        out.print(f"cause    [bold red]{markup_safe(r['cause'])}[/]")
    for e in r["tick_errors"]:
        what, message = markup_safe(e.get("operation")), markup_safe(e.get("message"))
        count = f" ({e.get('count')} times)" if (e.get("count") or 1) > 1 else ""
        out.print(f"error    {what}: {message}{count}")
    if r["installation"]:
        inst = escape(r["installation"])
        out.print(f"install  {inst} (its pods are named spotsched-{inst}-<job>-<attempt>)")
    else:
        out.print("install  no installation id yet (`spotsched db upgrade` creates it)")
    spot = {True: "available", False: f"[yellow]{SPOT_UNAVAILABLE}[/]", None: "unknown"}
    if (r["runpod_api"] or {}).get("spot") == "absent":
        spot[False] = f"[yellow]{SPOT_NOT_ON_API}[/]"
    out.print(f"spot     {spot[r['spot_capable']]}")
    if r["runpod_api"] is not None:
        by_api: dict[str, list[str]] = {}
        for capability, api in r["runpod_api"].items():
            by_api.setdefault(api, []).append(capability)
        absent = by_api.pop("absent", [])
        parts = [f"{api}: {', '.join(caps)}" for api, caps in sorted(by_api.items())]
        parts += [f"not available on this API: {', '.join(absent)}"] if absent else []
        served = "; ".join(parts)
        out.print(f"runpod   {escape(served)}")
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
    # No database (or schema) yet: the daemon never ran there, unhealthy, and a report says so.
    absent = database_absent(db or settings.database_url)
    facts: dict[str, tuple[str, datetime | None]] = {}
    by_day: list[dict[str, Any]] = []
    jobs: list[dict[str, Any]] = []
    if absent is None:
        with store_at(settings, db, read_only=True) as store:
            facts = store.facts()
            by_day = store.cost_report(month_start, "day")
            jobs = store.list_jobs(None, limit=10**9)
    report = status_report(settings, facts, by_day, jobs, now)
    if absent is not None:
        report["cause"] = absent
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

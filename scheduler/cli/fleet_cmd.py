"""`spotsched prices | pods`: the market and the fleet as RunPod reports them, for people and
for scripts (`--json`, stable snake_case fields).

Read-only: nothing here creates, stops or changes anything on RunPod. The API key is loaded as
the daemon loads it and goes only into the RunPod client, which keeps it out of messages.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

import httpx
import typer
from rich.console import Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from scheduler.cli.common import (
    EXIT_FAILURE,
    EXIT_INVALID,
    EXIT_NOT_FOUND,
    ConfigOption,
    DbOption,
    JsonOption,
    cell,
    cli_logging,
    fail,
    missing_sqlite_folder,
    money,
    out,
    print_json,
    settings_from,
    store_at,
    to_jsonable,
    utc_now,
    warn,
)
from scheduler.daemon.config import ConfigError, Settings
from scheduler.daemon.secrets import CREDENTIAL_NAME, load_api_key
from scheduler.domain.clock import SystemClock
from scheduler.domain.durations import format_duration
from scheduler.domain.views import parse_pod_name
from scheduler.runpod.client import RunPodClient
from scheduler.runpod.errors import AuthenticationError, RunPodError
from scheduler.runpod.models import Market, Pod
from scheduler.store import JobNotFound

SPOT_UNAVAILABLE = (
    "spot is not available on this account/market (RunPod removed spot pods?) — "
    "jobs will run on-demand where they allow it"
)


class Cloud(StrEnum):
    SECURE = "SECURE"
    COMMUNITY = "COMMUNITY"
    ALL = "ALL"


# ---------------------------------------------------------------------------------- RunPod


@contextmanager
def _runpod(settings: Settings, *, need_key: bool) -> Iterator[RunPodClient]:
    """A client as the daemon builds it; RunPod errors end the command with a message."""
    try:
        key = load_api_key(settings)
    except ConfigError as exc:
        fail(exc.message, EXIT_INVALID)
    for warning in key.warnings:
        warn(warning)
    if need_key and key.value is None:
        fail(
            "no RunPod API key: set RUNPOD_API_KEY, the systemd credential "
            f"{CREDENTIAL_NAME} or [runpod] api_key_file",
            EXIT_INVALID,
        )
    with httpx.Client(timeout=settings.runpod.timeout) as http, cli_logging():
        try:
            client = RunPodClient(
                http,
                key.value,
                clock=SystemClock(),
                timeout=settings.runpod.timeout,
                url=settings.runpod.api_url,
            )
        except ValueError as exc:
            fail(f"runpod.api_url: {exc}", EXIT_INVALID)
        try:
            yield client
        except AuthenticationError as exc:
            fail(f"RunPod refused the API key ({key.source}): {exc.message}", EXIT_INVALID)
        except RunPodError as exc:
            fail(f"RunPod: {exc.message}", EXIT_FAILURE)


# ---------------------------------------------------------------------------------- prices


def _clouds(cloud: Cloud) -> tuple[bool, ...]:
    return {Cloud.SECURE: (True,), Cloud.COMMUNITY: (False,), Cloud.ALL: (True, False)}[cloud]


def price_report(
    market: Market, count: int, cloud: Cloud, filtered: bool, now: datetime
) -> dict[str, Any]:
    rows = []
    for g in sorted(market.gpus, key=lambda g: g.id):
        for secure in _clouds(cloud):
            lp = g.lowest_for(count, secure)
            rows.append(
                {
                    "gpu_type_id": g.id,
                    "display_name": g.display_name,
                    "memory_gb": g.memory_gb,
                    "cloud": "SECURE" if secure else "COMMUNITY",
                    "gpu_count": count,
                    "on_demand_price": lp.uninterruptable_price if lp else None,
                    "spot_min_bid": lp.minimum_bid_price if lp and lp.has_spot else None,
                    "stock": lp.stock_status if lp else None,
                }
            )
    spot = market.spot_listed
    notice = None
    if not spot:
        notice = (
            "none of the selected GPU types lists a spot price" if filtered else SPOT_UNAVAILABLE
        )
    return {
        "fetched_at": now,
        "gpu_count": count,
        "cloud": cloud.value,
        "spot_available": spot,
        "notice": notice,
        "prices": rows,
    }


def _price_view(report: dict[str, Any]) -> RenderableType:
    n = report["gpu_count"]
    table = Table(
        title=f"RunPod market, {n} GPU{'s' if n > 1 else ''} per pod, $ per GPU-hour",
        caption=f"at {report['fetched_at']:%Y-%m-%d %H:%M:%S} UTC",
    )
    for col in ("GPU", "id", "memory", "cloud", "on-demand", "spot min bid", "spot saves", "stock"):
        right = col in ("memory", "on-demand", "spot min bid", "spot saves")
        table.add_column(col, justify="right" if right else "left", overflow="fold")
    rows = report["prices"]
    for i, r in enumerate(rows):
        first = i == 0 or rows[i - 1]["gpu_type_id"] != r["gpu_type_id"]
        last = i == len(rows) - 1 or rows[i + 1]["gpu_type_id"] != r["gpu_type_id"]
        od, spot = r["on_demand_price"], r["spot_min_bid"]
        saves = f"{100 * (1 - spot / od):.0f}%" if od and spot else "-"
        table.add_row(
            r["display_name"] if first else "",
            r["gpu_type_id"] if first else "",
            f"{r['memory_gb']} GB" if first and r["memory_gb"] else "",
            r["cloud"].lower(),
            money(od),
            money(spot) if spot else "no spot",
            saves,
            r["stock"] or "none",
            end_section=last,
        )
    if report["notice"] is None:
        return table
    return Group(table, Text(report["notice"], style="bold yellow"))


def prices(
    gpu: Annotated[
        list[str] | None, typer.Option("--gpu", help="Only this GPU type id (repeatable).")
    ] = None,
    count: Annotated[int, typer.Option(min=1, max=16, help="GPUs per pod.")] = 1,
    cloud: Annotated[Cloud, typer.Option(help="SECURE, COMMUNITY or ALL (both).")] = Cloud.ALL,
    watch: Annotated[
        float | None,
        typer.Option(min=1.0, show_default=False, help="Refresh every SECONDS until Ctrl-C."),
    ] = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Market prices per GPU type: on-demand, spot minimum bid, stock (no API key needed)."""
    settings = settings_from(config)
    ids = sorted(set(gpu)) if gpu else None
    with _runpod(settings, need_key=False) as client:

        def fetch() -> dict[str, Any]:
            combos = [(count, secure) for secure in _clouds(cloud)]
            market = client.market(combos, gpu_type_ids=ids)
            if ids is not None:
                missing = sorted(set(ids) - {g.id for g in market.gpus})
                if len(missing) == len(ids):
                    fail(f"no GPU type {', '.join(missing)} in the market", EXIT_NOT_FOUND)
                for gpu_id in missing:
                    warn(f"no GPU type {gpu_id} in the market")
            return price_report(market, count, cloud, ids is not None, utc_now())

        if watch is None:
            report = fetch()
            if as_json:
                print_json(report)
            else:
                out.print(_price_view(report))
            return
        _watch(fetch, _price_view, watch, as_json)


def _watch(
    fetch: Callable[[], dict[str, Any]],
    view: Callable[[dict[str, Any]], RenderableType],
    seconds: float,
    as_json: bool,
) -> None:
    """Refresh until Ctrl-C (exit 0). A failed refresh is shown and the next one tried; JSON
    prints one object per line per refresh."""
    clock = SystemClock()

    def attempt() -> dict[str, Any] | str:
        try:
            return fetch()
        except RunPodError as exc:
            return f"refresh failed: {exc.message}"

    try:
        if as_json or not out.is_terminal:
            while True:
                result = attempt()
                if isinstance(result, str):
                    warn(result)
                elif as_json:
                    sys.stdout.write(json.dumps(to_jsonable(result)) + "\n")
                    sys.stdout.flush()
                else:
                    out.print(view(result))
                clock.sleep(seconds)
        with Live(console=out, auto_refresh=False) as live:
            shown: RenderableType = Text("fetching…")
            while True:
                result = attempt()
                if isinstance(result, str):
                    shown = Group(shown, Text(result, style="red"))
                else:
                    shown = view(result)
                live.update(Group(shown, Text(f"every {seconds:g}s; Ctrl-C stops")), refresh=True)
                clock.sleep(seconds)
    except KeyboardInterrupt:
        return


# ---------------------------------------------------------------------------------- pods


def _pod_status(p: Pod) -> str:
    if p.desired_status == "RUNNING":
        return "running" if p.runtime is not None else "starting"
    return {"EXITED": "stopped"}.get(p.desired_status, p.desired_status.lower())


def pod_rows(found: tuple[Pod, ...], jobs: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    """`jobs`: job details by id (`Store.job_detail`), for the owner's name and our bid."""
    rows = []
    for p in sorted(found, key=lambda p: (p.name, p.id)):
        owned = parse_pod_name(p.name)
        job = jobs.get(owned[0]) if owned else None
        # ours only by the exact name an attempt recorded: another installation's pods are
        # named `spotsched-...` too
        attempts = (job or {}).get("attempts", [])
        attempt = next((a for a in attempts if a["pod_name"] == p.name), None)
        job = job if attempt is not None else None
        rt = p.runtime
        rows.append(
            {
                "id": p.id,
                "name": p.name,
                "kind": "spot" if p.is_spot else "on_demand",
                "pod_type": p.pod_type,
                "gpu_type_id": p.gpu_type_id,
                "gpu_count": p.gpu_count,
                "cost_per_hr": p.cost_per_hr,
                "bid_per_gpu": attempt["bid_per_gpu"] if attempt else None,
                "desired_status": p.desired_status,
                "runtime_up": rt is not None,
                "status": _pod_status(p),
                "gpu_util_percent": rt.mean_gpu_util if rt else None,
                "uptime_seconds": rt.uptime_seconds if rt else None,
                "data_center_id": p.data_center_id,
                "owner": "spotsched" if owned else "foreign",
                "job_id": owned[0] if owned else None,
                "job_name": job["name"] if job else None,
                "attempt": owned[1] if owned else None,
            }
        )
    return rows


def _job_details(settings: Settings, db: str | None, ids: set[int]) -> dict[int, dict[str, Any]]:
    if not ids:
        return {}
    url = db or settings.database_url
    if missing_sqlite_folder(url) is not None:
        warn(f"no database at {url}: job names are not shown (set --db or state_dir)")
        return {}
    found = {}
    with store_at(settings, db) as store:
        for job_id in ids:
            with suppress(JobNotFound):
                found[job_id] = store.job_detail(job_id)
    return found


def pods(
    show_all: Annotated[
        bool, typer.Option("--all", help="Also stopped (EXITED) and terminated pods.")
    ] = False,
    config: ConfigOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Pods on the RunPod account: kind, bid, burn rate, utilisation and the job that owns
    each (pods spotsched did not launch are shown as foreign). Needs the API key."""
    settings = settings_from(config)
    with _runpod(settings, need_key=True) as client:
        listed = client.list_pods()
    if not show_all:
        listed = tuple(p for p in listed if p.desired_status not in ("EXITED", "TERMINATED"))
    ids = {owned[0] for p in listed if (owned := parse_pod_name(p.name)) is not None}
    rows = pod_rows(listed, _job_details(settings, db, ids))
    burn = sum((r["cost_per_hr"] for r in rows if r["desired_status"] == "RUNNING"), 0.0)
    if as_json:
        print_json({"pods": rows, "burn_rate": burn})
        return
    if not rows:
        out.print("no pods" if show_all else "no running pods (--all also lists stopped ones)")
        return
    table = Table(caption=f"burn rate {money(burn)}/h")
    for col in ("name", "id", "kind", "GPU", "bid/GPU", "$/h", "status", "util", "up", "owner"):
        right = col in ("bid/GPU", "$/h", "util", "up")
        table.add_column(col, justify="right" if right else "left", overflow="fold")
    for r in rows:
        owner = "foreign" if r["owner"] == "foreign" else f"job {r['job_id']}"
        if r["job_name"]:
            owner += f" {r['job_name']}"
        util, up = r["gpu_util_percent"], r["uptime_seconds"]
        table.add_row(
            cell(r["name"]),
            cell(r["id"]),
            r["kind"].replace("_", "-"),
            f"{r['gpu_count']}x {r['gpu_type_id'] or '?'}",
            money(r["bid_per_gpu"]),
            money(r["cost_per_hr"]),
            r["status"],
            "-" if util is None else f"{util:.0f}%",
            "-" if up is None else format_duration(up),
            cell(owner),
        )
    out.print(table)


# ---------------------------------------------------------------------------------- cost


def register(app: typer.Typer) -> None:
    app.command()(prices)
    app.command()(pods)

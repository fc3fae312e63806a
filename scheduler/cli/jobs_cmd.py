"""`spotsched submit | jobs | job | cancel`: putting work in and seeing what became of it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from scheduler.cli.common import (
    EXIT_INVALID,
    EXIT_NOT_FOUND,
    ConfigOption,
    DbOption,
    JsonOption,
    cell,
    fail,
    markup_safe,
    money,
    opened_store,
    out,
    print_json,
    shown,
    utc_now,
)
from scheduler.daemon.jobs_file import load_jobs_file
from scheduler.domain.job import JobInputError, JobSpec, parse_job
from scheduler.domain.states import JobState
from scheduler.store import JobNotFound
from scheduler.store.jobs import NameInUse


def _env_flags(values: list[str]) -> dict[str, str]:
    """`--env KEY=VALUE` flags: each is one variable, split at its first '=' (the value may hold
    commas, '=' or newlines). Errors name the flag's position, never its value."""
    env: dict[str, str] = {}
    for number, item in enumerate(values, start=1):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise JobInputError([("env", f"--env number {number} is not KEY=VALUE")], "flags")
        env[key.strip()] = value
    return env


def _input_error(exc: JobInputError) -> None:
    lines = "\n".join(f"  {field}: {msg}" for field, msg in exc.problems)
    where = f" in {exc.source}" if exc.source else ""
    fail(f"invalid job{where}; nothing was submitted:\n{lines}", EXIT_INVALID)


def submit(
    jobs_file: Annotated[
        Path | None, typer.Argument(help="A TOML file of [[job]] tables.", show_default=False)
    ] = None,
    name: Annotated[str | None, typer.Option(help="Job name.")] = None,
    image: Annotated[str | None, typer.Option(help="Container image.")] = None,
    gpu: Annotated[
        list[str] | None,
        typer.Option("--gpu", help="Acceptable GPU type id, best first; 'id:speed' to weigh it."),
    ] = None,
    max_spot_price: Annotated[float | None, typer.Option(help="$/GPU-hour limit for spot.")] = None,
    max_on_demand_price: Annotated[
        float | None, typer.Option(help="$/GPU-hour limit for on-demand (default: never).")
    ] = None,
    gpu_count: Annotated[int | None, typer.Option(help="GPUs per pod.")] = None,
    cloud_type: Annotated[str | None, typer.Option(help="SECURE, COMMUNITY or ALL.")] = None,
    command: Annotated[str | None, typer.Option(help="Docker args / start command.")] = None,
    env: Annotated[list[str] | None, typer.Option("--env", help="KEY=VALUE, repeatable.")] = None,
    fallback_after: Annotated[
        str | None, typer.Option(help="Longest wait for spot, e.g. 2h.")
    ] = None,
    max_preemptions: Annotated[
        int | None, typer.Option(help="Preemptions before on-demand.")
    ] = None,
    deadline: Annotated[str | None, typer.Option(help="ISO time the job must finish by.")] = None,
    estimated_runtime: Annotated[str | None, typer.Option(help="Compute needed, e.g. 6h.")] = None,
    priority: Annotated[int | None, typer.Option(help="Higher runs first.")] = None,
    idle_timeout: Annotated[str | None, typer.Option(help="Stop after this long idle.")] = None,
    idle_grace: Annotated[
        str | None, typer.Option(help="Start-up time before idleness counts.")
    ] = None,
    idle_threshold: Annotated[
        float | None, typer.Option(help="GPU utilisation % under which a pod is idle.")
    ] = None,
    on_idle: Annotated[str | None, typer.Option(help="terminate or stop.")] = None,
    max_runtime: Annotated[str | None, typer.Option(help="Longest a pod may run.")] = None,
    max_cost: Annotated[float | None, typer.Option(help="Dollar cap for the job.")] = None,
    network_volume_id: Annotated[str | None, typer.Option(help="Network volume to attach.")] = None,
    checkpoint: Annotated[
        bool, typer.Option(help="The job checkpoints: work survives preemption.")
    ] = False,
    replace: Annotated[
        bool,
        typer.Option(help="A live job has this name: ask it to cancel and queue this one."),
    ] = False,
    config: ConfigOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Queue jobs from a TOML file (upsert by name) or from flags."""
    specs: list[JobSpec]
    try:
        if jobs_file is not None:
            given = _flags_given(locals())
            if given:
                fail(
                    f"{', '.join(given)} cannot be given beside a jobs file (the file says "
                    "everything about its jobs); submit either a file or flags",
                    EXIT_INVALID,
                )
            specs = load_jobs_file(jobs_file)
        else:
            raw: dict[str, Any] = {
                "name": name,
                "image": image,
                "gpu_types": list(gpu or []) or None,
                "max_spot_price": max_spot_price,
                "max_on_demand_price": max_on_demand_price,
                "gpu_count": gpu_count,
                "cloud_type": cloud_type,
                "command": command,
                "env": _env_flags(env) if env else None,
                "fallback_after": fallback_after,
                "max_preemptions": max_preemptions,
                "deadline": deadline,
                "estimated_runtime": estimated_runtime,
                "priority": priority,
                "idle_timeout": idle_timeout,
                "idle_grace": idle_grace,
                "idle_threshold": idle_threshold,
                "on_idle": on_idle,
                "max_runtime": max_runtime,
                "max_cost": max_cost,
                "network_volume_id": network_volume_id,
                "checkpoint": checkpoint or None,
            }
            specs = [parse_job(raw, source="flags", known_gpu_types_only=True)]
    except JobInputError as exc:
        _input_error(exc)
    except ValueError as exc:
        fail(f"invalid job: {exc}", EXIT_INVALID)
    replaced: int | None = None
    with opened_store(config, db) as (store, _settings):
        if jobs_file is not None:
            results = store.upsert(specs, utc_now(), f"file {jobs_file.name}")
        elif replace:
            new, replaced = store.submit_replacing(specs[0], utc_now(), "cli")
            results = [(new, "created")]
        else:
            try:
                results = [(store.submit(specs[0], utc_now(), "cli"), "created")]
            except NameInUse as exc:
                fail(
                    f"{exc.message}; give another --name, wait for it to finish, or add "
                    f"--replace to cancel job {exc.job_id} and queue this one",
                    EXIT_INVALID,
                )
    rows: list[dict[str, Any]] = [
        {"id": i, "name": s.name, "outcome": o} for (i, o), s in zip(results, specs, strict=True)
    ]
    if replaced is not None:
        rows[0]["replaces"] = replaced
    if as_json:
        print_json(rows)
        return
    for r in rows:
        also = f" (job {r['replaces']}: cancel requested)" if "replaces" in r else ""
        out.print(f"job {r['id']} {shown(r['name'])}: {r['outcome']}{also}", markup=False)


_FILE_ONLY = {"jobs_file", "config", "db", "as_json"}


def _flags_given(values: dict[str, Any]) -> list[str]:
    """The job flags given on the command line (those not at their default)."""
    return [
        "--" + name.replace("_", "-")
        for name, value in values.items()
        if name not in _FILE_ONLY and value not in (None, False)
    ]


def jobs(
    state: Annotated[str | None, typer.Option(help="Only jobs in this state.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 200,
    config: ConfigOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """List jobs, newest first."""
    if state is not None and state not in {s.value for s in JobState}:
        fail(f"--state must be one of {', '.join(s.value for s in JobState)}", EXIT_INVALID)
    with opened_store(config, db, read_only=True) as (store, _settings):
        rows = store.list_jobs(state, limit)
    if as_json:
        print_json(rows)
        return
    table = Table(title=None, show_lines=False)
    for col in ("id", "name", "state", "prio", "gpus", "spot ≤", "od ≤", "spend", "why"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(
            cell(r["id"]),
            cell(r["name"]),
            cell(r["state"] + (" · deadline missed" if r["deadline_missed_at"] else "")),
            cell(r["priority"]),
            cell(f"{shown(r['gpu_count'])}x {shown(r['gpu_types'])}"),
            cell(money(r["max_spot_price"])),
            cell(money(r["max_on_demand_price"])),
            cell(money(r["spend"])),
            cell(r["reason"]),
        )
    out.print(table)


def job(
    job_id: Annotated[int, typer.Argument(help="Job id.")],
    config: ConfigOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show one job: spec, attempts, events and spend."""
    with opened_store(config, db, read_only=True) as (store, _settings):
        try:
            detail = store.job_detail(job_id)
        except JobNotFound as exc:
            fail(str(exc), EXIT_NOT_FOUND)
    if as_json:
        print_json(detail)
        return
    m = detail["money"]
    out.print(
        f"[bold]job {detail['id']} {markup_safe(detail['name'])}[/]: {detail['state']}"
        + (f" · {markup_safe(detail['outcome'])}" if detail["outcome"] else "")
        + f" ({markup_safe(detail['reason'])})"
    )
    if detail["deadline_missed_at"] is not None:
        out.print(
            f"[bold red]deadline missed[/]: the deadline {markup_safe(detail['deadline'])} passed"
            f" with the job unfinished (recorded {markup_safe(detail['deadline_missed_at'])})"
        )
    out.print(
        f"spend {money(m['spend'])}  on-demand would be {money(m['on_demand_cost'])}  "
        f"saved {money(m['savings'])}  wasted {money(m['waste'])}  "
        f"preemptions {shown(detail['preemptions'])}",
        markup=False,
    )
    attempts = Table(title="attempts")
    for col in ("#", "kind", "gpu", "bid/GPU", "$/h", "pod", "state", "end", "cost"):
        attempts.add_column(col, overflow="fold")
    for a in detail["attempts"]:
        attempts.add_row(
            cell(a["number"]),
            cell(a["kind"]),
            cell(f"{a['gpu_count']}x {a['gpu_type_id']}"),
            cell(money(a["bid_per_gpu"])),
            cell(money(a["cost_per_hr"])),
            cell(a["pod_id"] or a["pod_name"]),
            cell(a["state"] + (f" ({a['pending_call']} asked)" if a["pending_call"] else "")),
            cell(a["end_reason"]),
            cell(money(a["cost"])),
        )
    out.print(attempts)
    events = Table(title="events")
    for col in ("at", "change", "reason"):
        events.add_column(col, overflow="fold")
    for e in detail["events"]:
        change = f"{e['from'] or ''} → {e['to']}" if e["to"] else e["kind"]
        at = e["at"].strftime("%Y-%m-%d %H:%M:%S") if e["at"] is not None else ""
        events.add_row(cell(at), cell(change), cell(e["reason"]))
    out.print(events)


def cancel(
    job_id: Annotated[int, typer.Argument(help="Job id.")],
    config: ConfigOption = None,
    db: DbOption = None,
) -> None:
    """Ask the daemon to cancel a job (its pod is terminated on the next tick)."""
    with opened_store(config, db) as (store, _settings):
        try:
            state = store.request_cancel(job_id, utc_now())
        except JobNotFound as exc:
            fail(str(exc), EXIT_NOT_FOUND)
    if state.value in {"succeeded", "failed", "cancelled", "expired", "invalid"}:
        out.print(f"job {job_id} already ended ({state.value}); nothing to cancel")
    else:
        out.print(f"job {job_id}: cancel requested (was {state.value})")


def register(app: typer.Typer) -> None:
    app.command()(submit)
    app.command()(jobs)
    app.command()(job)
    app.command()(cancel)

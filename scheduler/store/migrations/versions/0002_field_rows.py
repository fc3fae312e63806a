"""Field safety for rows: env stored as a JSON object, one live job per name (issue 8, section 1).

- `jobs.env` held `K=V` lines, so a value with a comma or a newline (`NCCL_IB_HCA=mlx5_0,mlx5_1`)
  could not be read back and failed every tick. Rows the daemon wrote (`validated`) are
  converted to a JSON object: their lines were `K=V` joined by newlines, so a line that does not
  start with `NAME=` continues the value before it. Rows not yet checked keep their text: any
  program may still insert the `K=V` form, which the daemon reads on its next tick.
- A partial unique index keeps one live (not finished, not being cancelled) job per name. Jobs
  that already shared a live name keep running; all but the oldest get the suffix `-dup<id>`
  and an event saying so.

Like 0001, nothing here imports the models or the domain: a migration is history.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE_NAME = "state IN ('queued', 'launching', 'running', 'preempted') AND cancel_requested = false"
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _lines_to_object(text: str) -> dict[str, str] | None:
    """The daemon's old env text (`K=V` lines) as a mapping, or None if it is no such text."""
    env: dict[str, str] = {}
    last: str | None = None
    for line in text.split("\n"):
        key, sep, value = line.partition("=")
        if sep and _KEY.match(key.strip()):
            last = key.strip()
            env[last] = value
        elif last is not None:
            env[last] += "\n" + line
        elif line.strip():
            return None
    return env


def _now(bind: sa.engine.Connection) -> datetime:
    now = datetime.now(UTC)
    return now.replace(tzinfo=None) if bind.dialect.name == "sqlite" else now


def upgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(
        sa.text("SELECT id, env FROM jobs WHERE env IS NOT NULL AND validated = :t"), {"t": True}
    ).all()
    for job_id, env in rows:
        if not isinstance(env, str) or env.lstrip().startswith("{"):
            continue
        mapping = _lines_to_object(env)
        if mapping is not None:
            bind.execute(
                sa.text("UPDATE jobs SET env = :env WHERE id = :id"),
                {"env": json.dumps(mapping, sort_keys=True) if mapping else None, "id": job_id},
            )

    live = bind.execute(sa.text(f"SELECT id, name FROM jobs WHERE {LIVE_NAME} ORDER BY id")).all()
    seen: set[str] = set()
    taken = {r[0] for r in bind.execute(sa.text("SELECT DISTINCT name FROM jobs")).all()}
    events = sa.table(
        "job_events",
        sa.column("job_id", sa.Integer()),
        sa.column("at", sa.DateTime(timezone=True)),
        sa.column("kind", sa.String()),
        sa.column("reason", sa.String()),
    )
    for job_id, name in live:
        if name not in seen:
            seen.add(name)
            continue
        new, attempt = "", 0
        while not new or new in taken:
            suffix = f"-dup{job_id}" + (f"-{attempt}" if attempt else "")
            new, attempt = f"{str(name)[: 63 - len(suffix)]}{suffix}", attempt + 1
        taken.add(new)
        bind.execute(sa.text("UPDATE jobs SET name = :n WHERE id = :id"), {"n": new, "id": job_id})
        bind.execute(
            events.insert().values(
                job_id=job_id,
                at=_now(bind),
                kind="renamed",
                reason=f"renamed from {name!r} to {new!r}: another live job had that name",
            )
        )

    op.create_index(
        "ux_jobs_one_live_per_name",
        "jobs",
        ["name"],
        unique=True,
        sqlite_where=sa.text(LIVE_NAME),
        postgresql_where=sa.text(LIVE_NAME),
    )


def downgrade() -> None:
    op.drop_index("ux_jobs_one_live_per_name", table_name="jobs")
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, env FROM jobs WHERE env IS NOT NULL")).all()
    for job_id, env in rows:
        if not isinstance(env, str) or not env.lstrip().startswith("{"):
            continue
        try:
            mapping = json.loads(env)
        except ValueError:
            continue
        if isinstance(mapping, dict):
            text = "\n".join(f"{k}={v}" for k, v in mapping.items())
            bind.execute(
                sa.text("UPDATE jobs SET env = :env WHERE id = :id"),
                {"env": text or None, "id": job_id},
            )

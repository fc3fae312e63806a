"""Intents of every mutating pod call, honest job outcomes, missed deadlines (issue 8, section 2).

`attempts` gains the intent of a stop, terminate, resume or bid-resume call (committed before
the call, cleared with its result, finished by a restarted daemon) and `launched_at`, the latest
create or resume call that `launch_timeout` counts from; `jobs` gains `deadline_missed_at` and
`outcome` (how a finished job ended; jobs that finished before this revision get one where their
rows tell it: cancelled, or succeeded after an idle stop or a pod that ended by itself).

Columns are added at the end, so SQLite's ADD COLUMN gives the same table text as the models'
`create_all`; the enum CHECKs are column constraints for the same reason, and list the values
as they were when this revision was written.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

POD_CALLS = ("stop", "terminate", "resume", "bid_resume")
END_REASONS = (
    "completed",
    "idle",
    "preempted",
    "cancelled",
    "failed",
    "budget",
    "max_runtime",
    "launch_failed",
    "lost",
    "abandoned",
)
JOB_STATES = (
    "queued",
    "launching",
    "running",
    "preempted",
    "succeeded",
    "failed",
    "cancelled",
    "expired",
    "invalid",
)
JOB_OUTCOMES = (
    "completed",
    "idle",
    "cancelled",
    "max_cost",
    "max_runtime",
    "max_preemptions",
    "deadline",
    "wait_limit",
    "launch_rejected",
)
_ENUM_COLUMNS = (
    ("attempts", "pending_call", POD_CALLS),
    ("attempts", "pending_reason", END_REASONS),
    ("attempts", "pending_job_to", JOB_STATES),
)


def _check(table: str, column: str, values: Sequence[str]) -> tuple[str, str]:
    name = f"ck_{table}_{column}_valid"
    return name, f"{column} IS NULL OR {column} IN ({', '.join(repr(v) for v in values)})"


def _add_enum_column(table: str, column: str, values: Sequence[str], sqlite: bool) -> None:
    name, condition = _check(table, column, values)
    if sqlite:
        op.execute(
            f"ALTER TABLE {table} ADD COLUMN {column} VARCHAR CONSTRAINT {name} CHECK ({condition})"
        )
    else:
        op.add_column(table, sa.Column(column, sa.String()))
        op.create_check_constraint(name, table, condition)


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.add_column("jobs", sa.Column("deadline_missed_at", sa.DateTime(timezone=True)))
    _add_enum_column("jobs", "outcome", JOB_OUTCOMES, sqlite)
    op.add_column("attempts", sa.Column("launched_at", sa.DateTime(timezone=True)))
    for table, column, values in _ENUM_COLUMNS:
        _add_enum_column(table, column, values, sqlite)
    op.add_column("attempts", sa.Column("pending_detail", sa.String()))
    op.add_column("attempts", sa.Column("pending_bid", sa.Float()))
    op.add_column("attempts", sa.Column("pending_at", sa.DateTime(timezone=True)))
    # attempts that were live before this revision: their latest launch is their creation
    op.execute("UPDATE attempts SET launched_at = created_at WHERE state != 'ended'")
    op.execute("UPDATE jobs SET outcome = 'cancelled' WHERE state = 'cancelled'")
    op.execute(
        "UPDATE jobs SET outcome = CASE WHEN EXISTS (SELECT 1 FROM attempts a"
        " WHERE a.job_id = jobs.id AND a.end_reason = 'idle') THEN 'idle' ELSE 'completed' END"
        " WHERE state = 'succeeded'"
    )


def downgrade() -> None:
    with op.batch_alter_table("attempts") as batch:
        for column in (
            "pending_at",
            "pending_bid",
            "pending_detail",
            "pending_job_to",
            "pending_reason",
            "pending_call",
            "launched_at",
        ):
            batch.drop_column(column)
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("outcome")
        batch.drop_column("deadline_missed_at")

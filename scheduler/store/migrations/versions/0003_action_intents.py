"""Intents of every mutating pod call, honest job outcomes, missed deadlines (issue 8, section 2).

`attempts` gains the intent of a stop, terminate, resume or bid-resume call (committed before
the call, cleared with its result, finished by a restarted daemon) and `launched_at`, the latest
create or resume call that `launch_timeout` counts from; `jobs` gains `deadline_missed_at`.

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
_ENUM_COLUMNS = (
    ("pending_call", POD_CALLS),
    ("pending_reason", END_REASONS),
    ("pending_job_to", JOB_STATES),
)


def _check(column: str, values: Sequence[str]) -> tuple[str, str]:
    name = f"ck_attempts_{column}_valid"
    return name, f"{column} IS NULL OR {column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.add_column("jobs", sa.Column("deadline_missed_at", sa.DateTime(timezone=True)))
    op.add_column("attempts", sa.Column("launched_at", sa.DateTime(timezone=True)))
    for column, values in _ENUM_COLUMNS:
        name, condition = _check(column, values)
        if sqlite:
            op.execute(
                f"ALTER TABLE attempts ADD COLUMN {column} VARCHAR"
                f" CONSTRAINT {name} CHECK ({condition})"
            )
        else:
            op.add_column("attempts", sa.Column(column, sa.String()))
            op.create_check_constraint(name, "attempts", condition)
    op.add_column("attempts", sa.Column("pending_detail", sa.String()))
    op.add_column("attempts", sa.Column("pending_bid", sa.Float()))
    op.add_column("attempts", sa.Column("pending_at", sa.DateTime(timezone=True)))
    # attempts that were live before this revision: their latest launch is their creation
    op.execute("UPDATE attempts SET launched_at = created_at WHERE state != 'ended'")


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
        batch.drop_column("deadline_missed_at")

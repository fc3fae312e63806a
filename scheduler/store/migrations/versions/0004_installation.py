"""The installation id that owns this database and its pods (issue 8, section 3).

No schema change: one `daemon_state` row, `installation_id`, created once at random. Every pod
this database creates from now on carries it in its name (`spotsched-{id}-{job}-{attempt}`)
and env (`SPOTSCHED_INSTALLATION`), so a second installation on the same RunPod account (or a
person's pod named `spotsched-...`) is never mistaken for ours. Pods created before this
revision keep their old names; they stay ours through the pod ids the attempts recorded (see
`scheduler.domain.views`). An existing row is kept as it is.

A migration is history, so the id is generated here rather than by the package's function: a
letter, then nine lowercase letters or digits (`scheduler.domain.views.INSTALLATION_ID_PATTERN`
accepts it).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY = "installation_id"
_state = sa.table(
    "daemon_state",
    sa.column("key", sa.String()),
    sa.column("value", sa.String()),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.execute(sa.select(_state.c.key).where(_state.c.key == KEY)).first() is not None:
        return
    alphabet = string.ascii_lowercase + string.digits
    value = secrets.choice(string.ascii_lowercase) + "".join(
        secrets.choice(alphabet) for _ in range(9)
    )
    now = datetime.now(UTC)
    # SQLite keeps UTC timestamps naive (as `tables.UtcDateTime` writes them).
    when = now.replace(tzinfo=None) if bind.dialect.name == "sqlite" else now
    bind.execute(sa.insert(_state).values(key=KEY, value=value, updated_at=when))


def downgrade() -> None:
    # The row stays: older code ignores it, and upgrading again must find the same id, or the
    # pods named with it would no longer be ours.
    pass

"""Field safety for rows: env stored as a JSON object, one live job per name (issue 8, section 1).

A slot reserved so that parallel work on issue 8 keeps one linear history; filled in by the
change that needs it.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass

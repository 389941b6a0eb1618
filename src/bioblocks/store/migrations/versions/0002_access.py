"""Access control: users, groups, memberships, scoped and expiring tokens, share links.

Tokens made before this revision get no user: they stay server-wide writers.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

#: SQLite gets an expression index on each new filter path (PostgreSQL's GIN index has it).
FILTER_PATHS = {"visibility": "$.visibility", "group": "$.group"}


def upgrade() -> None:
    """Create the users, groups, memberships, shares and secrets tables; extend tokens."""
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(128), nullable=False, unique=True),
        sa.Column("admin", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("created", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "groups",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(128), nullable=False, unique=True),
        sa.Column("created", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "memberships",
        sa.Column("group_id", sa.Integer(), sa.ForeignKey("groups.id"), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
    )
    op.create_table(
        "shares",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("dataset", sa.String(64), nullable=False, index=True),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("expires", sa.DateTime(), nullable=False),
        sa.Column("revoked", sa.DateTime(), nullable=True),
    )
    op.create_table(
        "secrets",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(128), nullable=False),
    )
    with op.batch_alter_table("tokens") as batch:
        batch.add_column(sa.Column("user_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("scope", sa.String(16), nullable=True))
        batch.add_column(sa.Column("expires", sa.DateTime(), nullable=True))
        batch.create_foreign_key("fk_tokens_user", "users", ["user_id"], ["id"])
    if op.get_bind().dialect.name != "postgresql":
        for name, path in FILTER_PATHS.items():
            op.execute(
                f"CREATE INDEX ix_documents_{name} ON documents "
                f"(resource, json_extract(doc, '{path}'))"
            )


def downgrade() -> None:
    """Drop what this revision created."""
    if op.get_bind().dialect.name != "postgresql":
        for name in FILTER_PATHS:
            op.execute(f"DROP INDEX ix_documents_{name}")
    with op.batch_alter_table("tokens") as batch:
        batch.drop_constraint("fk_tokens_user", type_="foreignkey")
        batch.drop_column("expires")
        batch.drop_column("scope")
        batch.drop_column("user_id")
    for table in ("secrets", "shares", "memberships", "groups", "users"):
        op.drop_table(table)

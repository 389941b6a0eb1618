"""Initial tables: documents, media, tokens, and the filter indexes.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

#: JSON paths the clients and the pipeline filter on; SQLite gets one expression index each.
FILTER_PATHS = {
    "name": "$.name",
    "status": "$.status",
    "state": "$.state",
    "kind": "$.kind",
    "dataset": "$.dataset",
    "processtype": "$.processType",
    "species": "$.species",
    "assoc_dataset": "$.associatedDataset.dataset",
}


def upgrade() -> None:
    """Create the three tables and their indexes."""
    dialect = op.get_bind().dialect.name
    op.create_table(
        "documents",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("resource", sa.String(64), nullable=False),
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("etag", sa.String(64), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("updated", sa.DateTime(), nullable=False),
        sa.Column("doc", sa.JSON().with_variant(JSONB(), "postgresql"), nullable=False),
        sa.UniqueConstraint("resource", "id", name="uq_documents_resource_id"),
    )
    op.create_index("ix_documents_resource_seq", "documents", ["resource", "seq"])
    op.create_index("ix_documents_resource_created", "documents", ["resource", "created"])
    op.create_index("ix_documents_resource_updated", "documents", ["resource", "updated"])
    if dialect == "postgresql":
        op.execute(
            "CREATE INDEX ix_documents_doc ON documents USING gin (doc jsonb_path_ops) "
            "WITH (fastupdate = off)"
        )
    else:
        for name, path in FILTER_PATHS.items():
            op.execute(
                f"CREATE INDEX ix_documents_{name} ON documents "
                f"(resource, json_extract(doc, '{path}'))"
            )
        _sqlite_list_items()
    op.create_table(
        "media",
        sa.Column("id", sa.String(24), primary_key=True),
        sa.Column("filename", sa.String(512), nullable=False),
        sa.Column("content_type", sa.String(255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("uploaded", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "tokens",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("revoked", sa.DateTime(), nullable=True),
    )


#: Copy the scalar elements of each top-level list field into ``list_items``.
_FILL = """
    INSERT INTO list_items (seq, path, value)
    SELECT NEW.seq, field.key, item.value
    FROM json_each(NEW.doc) AS field, json_each(field.value) AS item
    WHERE field.type = 'array' AND item.type IN ('text', 'integer', 'real');
"""


def _sqlite_list_items() -> None:
    """SQLite: an indexed copy of list elements, kept by triggers, for "array contains".

    ``{"analyses": id}`` then is an index lookup instead of a ``json_each``
    scan of every document. PostgreSQL's GIN index on ``doc`` does this itself.
    """
    op.execute("CREATE TABLE list_items (seq INTEGER NOT NULL, path TEXT NOT NULL, value)")
    op.execute("CREATE INDEX ix_list_items_path_value ON list_items (path, value)")
    op.execute("CREATE INDEX ix_list_items_seq ON list_items (seq)")
    op.execute(f"CREATE TRIGGER documents_list_items_ai AFTER INSERT ON documents BEGIN {_FILL} END")
    op.execute(
        "CREATE TRIGGER documents_list_items_au AFTER UPDATE OF doc ON documents BEGIN "
        f"DELETE FROM list_items WHERE seq = OLD.seq; {_FILL} END"
    )
    op.execute(
        "CREATE TRIGGER documents_list_items_ad AFTER DELETE ON documents BEGIN "
        "DELETE FROM list_items WHERE seq = OLD.seq; END"
    )


def downgrade() -> None:
    """Drop everything this revision created."""
    op.drop_table("tokens")
    op.drop_table("media")
    if op.get_bind().dialect.name != "postgresql":
        op.execute("DROP TABLE list_items")
    op.drop_table("documents")

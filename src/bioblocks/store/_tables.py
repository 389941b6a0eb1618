"""The tables of the metadata store (the migrations create the same shapes)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

metadata = sa.MetaData()

#: JSON text on SQLite (queried with JSON1), ``jsonb`` on PostgreSQL (GIN-indexed).
DocJSON = sa.JSON().with_variant(JSONB(), "postgresql")

#: Every document of every resource. ``seq`` gives Mongo-like natural (insertion) order.
documents = sa.Table(
    "documents",
    metadata,
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
    sa.Column("doc", DocJSON, nullable=False),
    sa.UniqueConstraint("resource", "id", name="uq_documents_resource_id"),
)

#: Uploaded media (icons); the bytes live in ``<data_dir>/media/<id>``.
media = sa.Table(
    "media",
    metadata,
    sa.Column("id", sa.String(24), primary_key=True),
    sa.Column("filename", sa.String(512), nullable=False),
    sa.Column("content_type", sa.String(255), nullable=False),
    sa.Column("size", sa.BigInteger(), nullable=False),
    sa.Column("uploaded", sa.DateTime(), nullable=False),
)

#: API tokens: only the SHA-256 of the token is kept.
tokens = sa.Table(
    "tokens",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created", sa.DateTime(), nullable=False),
    sa.Column("revoked", sa.DateTime(), nullable=True),
    # 0002: a token of a user has a scope and may expire; a token without a user is a
    # server-wide writer (every token made before users existed).
    sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
    sa.Column("scope", sa.String(16), nullable=True),
    sa.Column("expires", sa.DateTime(), nullable=True),
)

#: People (or robots) holding tokens; ``admin`` users are admins of every group.
users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(128), nullable=False, unique=True),
    sa.Column("admin", sa.Boolean(), nullable=False, default=False),
    sa.Column("created", sa.DateTime(), nullable=False),
)

#: Groups own private datasets.
groups = sa.Table(
    "groups",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(128), nullable=False, unique=True),
    sa.Column("created", sa.DateTime(), nullable=False),
)

#: A user's role in a group: ``reader``, ``writer`` or ``admin``.
memberships = sa.Table(
    "memberships",
    metadata,
    sa.Column("group_id", sa.Integer(), sa.ForeignKey("groups.id"), primary_key=True),
    sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), primary_key=True),
    sa.Column("role", sa.String(16), nullable=False),
)

#: Read-only share links of one dataset (the link carries an HMAC of its id and expiry).
shares = sa.Table(
    "shares",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("dataset", sa.String(64), nullable=False, index=True),
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.Column("created", sa.DateTime(), nullable=False),
    sa.Column("expires", sa.DateTime(), nullable=False),
    sa.Column("revoked", sa.DateTime(), nullable=True),
)

#: Server secrets by name (``share-key``: the HMAC key of share links), made on first use.
secrets_table = sa.Table(
    "secrets",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(128), nullable=False),
)

#: SQLite only (created by the migration with its triggers): the scalar elements of
#: every top-level list field, so "array contains" filters are index lookups.
list_items = sa.Table(
    "list_items",
    sa.MetaData(),
    sa.Column("seq", sa.Integer(), nullable=False),
    sa.Column("path", sa.Text(), nullable=False),
    sa.Column("value", sa.types.NullType()),
)

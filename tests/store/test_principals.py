"""Users, groups, scoped tokens and share links (``store/_principals.py``), on both stores."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from bioblocks.errors import ConflictError, InputError, NotFoundError
from bioblocks.store import (
    Store,
    add_member,
    check_share,
    create_group,
    create_share,
    create_user,
    create_user_token,
    find_token,
    list_token_records,
    list_users,
    parse_duration,
    revoke_share,
    revoke_token_by_id,
    user_roles,
)
from bioblocks.store._tables import shares, tokens


def test_users_groups_and_roles(store: Store) -> None:
    create_user(store, "ana")
    create_user(store, "root", admin=True)
    create_group(store, "lab")
    create_group(store, "other")
    add_member(store, "lab", "ana", role="writer")
    add_member(store, "other", "ana")
    add_member(store, "lab", "ana", role="admin")  # replaces the writer role
    assert user_roles(store, "ana") == (False, {"lab": "admin", "other": "reader"})
    assert user_roles(store, "root") == (True, {})
    assert [(u.name, u.admin, u.roles) for u in list_users(store)] == [
        ("ana", False, {"lab": "admin", "other": "reader"}), ("root", True, {})]
    with pytest.raises(ConflictError, match="exists"):
        create_user(store, "ana")
    with pytest.raises(NotFoundError, match="bioblocks group create nope"):
        add_member(store, "nope", "ana")
    with pytest.raises(InputError, match="not a role"):
        add_member(store, "lab", "ana", role="owner")
    with pytest.raises(InputError, match="not a valid user name"):
        create_user(store, "has space")


def test_scoped_tokens_are_hashed_and_expire(store: Store) -> None:
    create_user(store, "ana")
    legacy = store.create_token("old-robot")
    token = create_user_token(store, "ana", scope="write", expires=timedelta(days=30))
    with store.engine.connect() as conn:
        hashes = set(conn.execute(sa.select(tokens.c.hash)).scalars())
    assert token not in hashes and len(hashes) == 2
    record = find_token(store, token)
    assert record is not None
    assert (record.name, record.user, record.scope, record.state()) == ("ana", "ana", "write",
                                                                        "active")
    assert record.expires is not None and record.expires - record.created == timedelta(days=30)
    old = find_token(store, legacy)
    assert old is not None and (old.user, old.scope, old.expires) == (None, "write", None)
    assert find_token(store, "bb_unknown") is None
    assert record.state(now=record.expires) == "expired"
    revoke_token_by_id(store, record.id)
    assert [r.state() for r in list_token_records(store)] == ["active", "revoked"]
    with pytest.raises(NotFoundError):
        revoke_token_by_id(store, record.id)
    with pytest.raises(InputError, match="not a scope"):
        create_user_token(store, "ana", scope="root")


def test_parse_duration() -> None:
    assert parse_duration("30d") == timedelta(days=30)
    assert parse_duration("12h") == timedelta(hours=12)
    assert parse_duration("2w") == timedelta(weeks=2)
    for bad in ("30", "0d", "1y", "-1d"):
        with pytest.raises(InputError, match="not a duration"):
            parse_duration(bad)


def test_share_links_are_signed_expiring_and_revocable(store: Store) -> None:
    share = create_share(store, "d1", created_by="ana", expires=timedelta(hours=1))
    assert check_share(store, share.token) == "d1"
    share_id, stamp, signature = share.token.split(".")
    forged = f"{share_id}.{int(stamp) + 3600}.{signature}"  # a later expiry, old signature
    assert check_share(store, forged) is None
    assert check_share(store, f"{share_id}.{stamp}.{signature[:-2]}AA") is None
    assert check_share(store, "garbage") is None
    with store.engine.begin() as conn:  # the stored row says when it ends, not the link alone
        conn.execute(sa.update(shares).values(expires=share.expires - timedelta(hours=2)))
    assert check_share(store, share.token) is None
    other = create_share(store, "d1", created_by="ana")
    revoke_share(store, "d1", other.id)
    assert check_share(store, other.token) is None
    with pytest.raises(NotFoundError):
        revoke_share(store, "d2", share.id)

"""Users, groups, scoped tokens and share links in the store (the tables of revision 0002).

Every verb is a function over a :class:`Store`. Tokens are printed once and kept as
their SHA-256 (as :meth:`Store.create_token` does); a token without a user is a
server-wide writer, the kind every token made before users existed is. Share links
carry ``<share id>.<expiry>.<HMAC-SHA256>`` signed with a server secret kept in the
``secrets`` table; a share row can be revoked.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from ..errors import ConflictError, InputError, NotFoundError
from ._store import Store
from ._tables import groups, memberships, secrets_table, shares, tokens, users

#: Roles in a group and token scopes, weakest first (scope ``read`` caps a role at
#: ``reader``, ``write`` at ``writer``).
ROLES = ("reader", "writer", "admin")
SCOPES = ("read", "write", "admin")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$")
_DURATION = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _check_name(name: str, what: str) -> str:
    name = name.strip()
    if _NAME.fullmatch(name) is None:
        raise InputError(
            f"{name!r} is not a valid {what} name: use 1-128 letters, digits, '_', '.', '@' "
            "or '-', starting with a letter or digit", field="name",
        )
    return name


def _check_role(role: str, what: str = "role") -> str:
    allowed = ROLES if what == "role" else SCOPES
    if role not in allowed:
        raise InputError(f"{role!r} is not a {what}; use one of {', '.join(allowed)}",
                         field=what)
    return role


def parse_duration(text: str) -> timedelta:
    """Return the :class:`timedelta` of ``30d``, ``12h``, ``90m``, ``2w`` or ``3600s``."""
    match = _DURATION.fullmatch(text.strip())
    if match is None or int(match[1]) == 0:
        raise InputError(
            f"{text!r} is not a duration; write a positive number and a unit: "
            "30d, 12h, 90m, 2w or 3600s", field="expires",
        )
    return timedelta(**{_UNITS[match[2]]: int(match[1])})


# -- users and groups ---------------------------------------------------------------------


def create_user(store: Store, name: str, *, admin: bool = False) -> str:
    """Create user ``name`` (an ``admin`` is an admin of every group); return the name."""
    name = _check_name(name, "user")
    try:
        with store.engine.begin() as conn:
            conn.execute(sa.insert(users).values(name=name, admin=admin, created=_now()))
    except sa.exc.IntegrityError:
        raise ConflictError(f"a user named {name!r} exists; see `bioblocks user list`") from None
    return name


def create_group(store: Store, name: str) -> str:
    """Create group ``name``; return the name."""
    name = _check_name(name, "group")
    try:
        with store.engine.begin() as conn:
            conn.execute(sa.insert(groups).values(name=name, created=_now()))
    except sa.exc.IntegrityError:
        raise ConflictError(f"a group named {name!r} exists; see `bioblocks group list`") from None
    return name


def _id_of(conn: sa.Connection, table: sa.Table, name: str, what: str) -> int:
    found = conn.execute(sa.select(table.c.id).where(table.c.name == name)).scalar()
    if found is None:
        raise NotFoundError(
            f"no {what} named {name!r}; create it with `bioblocks {what} create {name}`"
        )
    return int(found)


def add_member(store: Store, group: str, user: str, *, role: str = "reader") -> None:
    """Give ``user`` the ``role`` in ``group`` (replacing a role it had); writes memberships."""
    _check_role(role)
    with store.engine.begin() as conn:
        group_id = _id_of(conn, groups, group, "group")
        user_id = _id_of(conn, users, user, "user")
        conn.execute(sa.delete(memberships).where(
            memberships.c.group_id == group_id, memberships.c.user_id == user_id))
        conn.execute(sa.insert(memberships).values(group_id=group_id, user_id=user_id, role=role))


def group_names(store: Store) -> list[str]:
    """Return the names of every group, sorted."""
    with store.engine.connect() as conn:
        return sorted(conn.execute(sa.select(groups.c.name)).scalars())


@dataclass(frozen=True)
class UserInfo:
    """A user as listed: name, server admin or not, and its role in each group."""

    name: str
    admin: bool
    roles: dict[str, str]


def list_users(store: Store) -> list[UserInfo]:
    """Return every user with its roles, by name."""
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(users).order_by(users.c.name)).all()
        roles = conn.execute(
            sa.select(memberships.c.user_id, groups.c.name, memberships.c.role)
            .join(groups, groups.c.id == memberships.c.group_id)
        ).all()
    by_user: dict[int, dict[str, str]] = {}
    for user_id, group, role in roles:
        by_user.setdefault(user_id, {})[group] = role
    return [UserInfo(r.name, bool(r.admin), by_user.get(r.id, {})) for r in rows]


# -- tokens -------------------------------------------------------------------------------


def create_user_token(store: Store, user: str, *, scope: str = "read",
                      expires: timedelta | None = None, name: str | None = None) -> str:
    """Create a token of ``user`` with ``scope``, expiring after ``expires`` (never without).

    Returns the token (printed once; only its SHA-256 is stored). ``name`` defaults to
    the user's name; ``bioblocks token revoke NAME`` revokes by it.
    """
    _check_role(scope, "scope")
    token = "bb_" + secrets.token_urlsafe(32)
    now = _now()
    with store.engine.begin() as conn:
        user_id = _id_of(conn, users, user, "user")
        conn.execute(sa.insert(tokens).values(
            name=(name or user)[:128], hash=_hash(token), created=now, revoked=None,
            user_id=user_id, scope=scope, expires=None if expires is None else now + expires,
        ))
    return token


@dataclass(frozen=True)
class TokenRecord:
    """A token as listed: its name, user (None: a server-wide writer), scope and times."""

    id: int
    name: str
    user: str | None
    scope: str
    created: datetime
    expires: datetime | None
    revoked: datetime | None

    def state(self, now: datetime | None = None) -> str:
        """Return ``active``, ``revoked`` or ``expired``."""
        if self.revoked is not None:
            return "revoked"
        if self.expires is not None and self.expires <= (now or _now()):
            return "expired"
        return "active"


def _token_select() -> sa.Select[tuple[object, ...]]:
    return sa.select(tokens.c.id, tokens.c.name, users.c.name.label("user"), tokens.c.scope,
                     tokens.c.created, tokens.c.expires, tokens.c.revoked).select_from(
        tokens.outerjoin(users, users.c.id == tokens.c.user_id))


def _record(row: sa.Row[tuple[object, ...]]) -> TokenRecord:
    m = row._mapping
    return TokenRecord(m["id"], m["name"], m["user"], m["scope"] or "write", m["created"],
                       m["expires"], m["revoked"])


def list_token_records(store: Store) -> list[TokenRecord]:
    """Return every token (active, expired and revoked), oldest first."""
    with store.engine.connect() as conn:
        rows = conn.execute(_token_select().order_by(tokens.c.id)).all()
    return [_record(r) for r in rows]


def find_token(store: Store, token: str) -> TokenRecord | None:
    """Return the record of ``token`` (whatever its state), or None if it is unknown."""
    with store.engine.connect() as conn:
        row = conn.execute(_token_select().where(tokens.c.hash == _hash(token))).first()
    return None if row is None else _record(row)


def user_roles(store: Store, user: str) -> tuple[bool, dict[str, str]]:
    """Return ``(server admin, {group: role})`` of ``user``."""
    with store.engine.connect() as conn:
        admin = conn.execute(sa.select(users.c.admin).where(users.c.name == user)).scalar()
        rows = conn.execute(
            sa.select(groups.c.name, memberships.c.role)
            .join(memberships, memberships.c.group_id == groups.c.id)
            .join(users, users.c.id == memberships.c.user_id)
            .where(users.c.name == user)
        ).all()
    return bool(admin), {name: role for name, role in rows}


def revoke_token_by_id(store: Store, token_id: int) -> None:
    """Revoke the token with this id (see ``bioblocks token list``)."""
    with store.engine.begin() as conn:
        count = conn.execute(sa.update(tokens).where(
            tokens.c.id == token_id, tokens.c.revoked.is_(None)).values(revoked=_now())).rowcount
    with store._token_lock:
        store._token_cache.clear()
    if not count:
        raise NotFoundError(f"no active token with id {token_id}; see `bioblocks token list`")


# -- share links --------------------------------------------------------------------------


def _share_key(store: Store) -> bytes:
    """The HMAC key of share links, made (once, race-free) on first use."""
    with store.engine.connect() as conn:
        value = conn.execute(sa.select(secrets_table.c.value)
                             .where(secrets_table.c.name == "share-key")).scalar()
    if value is None:
        try:
            with store.engine.begin() as conn:
                conn.execute(sa.insert(secrets_table).values(
                    name="share-key", value=secrets.token_hex(32)))
        except sa.exc.IntegrityError:
            pass  # another process made it first
        return _share_key(store)
    return bytes.fromhex(str(value))


def _sign(key: bytes, share_id: str, expires: datetime) -> str:
    message = f"{share_id}.{int(expires.replace(tzinfo=UTC).timestamp())}".encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


@dataclass(frozen=True)
class ShareInfo:
    """A share link: its id, dataset, the token to send, who made it and when it expires."""

    id: str
    dataset: str
    token: str
    created_by: str
    expires: datetime


def create_share(store: Store, dataset: str, *, created_by: str,
                 expires: timedelta = timedelta(days=7)) -> ShareInfo:
    """Create a read-only share of ``dataset``; return it with its signed token."""
    share_id = secrets.token_hex(16)
    now = _now()
    until = now + expires
    with store.engine.begin() as conn:
        conn.execute(sa.insert(shares).values(id=share_id, dataset=dataset,
                                              created_by=created_by[:128], created=now,
                                              expires=until, revoked=None))
    token = f"{share_id}.{int(until.replace(tzinfo=UTC).timestamp())}.{_sign(_share_key(store), share_id, until)}"
    return ShareInfo(share_id, dataset, token, created_by, until)


def check_share(store: Store, token: str) -> str | None:
    """Return the dataset a share token grants read of; None if forged, expired or revoked."""
    share_id, _, rest = token.partition(".")
    stamp, _, signature = rest.partition(".")
    if not share_id or not stamp.isdigit() or not signature:
        return None
    until = datetime.fromtimestamp(int(stamp), UTC).replace(tzinfo=None)
    if not hmac.compare_digest(_sign(_share_key(store), share_id, until), signature):
        return None
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(shares).where(shares.c.id == share_id)).first()
    if row is None or row.revoked is not None or row.expires != until or until <= _now():
        return None
    return str(row.dataset)


def revoke_share(store: Store, dataset: str, share_id: str) -> None:
    """Revoke share ``share_id`` of ``dataset``; raise NotFoundError if it has none active."""
    with store.engine.begin() as conn:
        count = conn.execute(sa.update(shares).where(
            shares.c.id == share_id, shares.c.dataset == dataset, shares.c.revoked.is_(None),
        ).values(revoked=_now())).rowcount
    if not count:
        raise NotFoundError(f"dataset {dataset} has no active share {share_id}")

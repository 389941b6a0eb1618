"""Authorization: who may read and write which dataset, and the store filters that say so.

The one home of the rules (the API resolves a :class:`Principal` once per request and
asks here; nothing else decides):

* A dataset is ``public`` unless its ``visibility`` is ``"private"``; a private one
  belongs to its ``group``. Analyses, jobs, vignettes and annotations follow their
  dataset (:data:`FOLLOWS`): what hides a dataset hides them.
* Everyone may read public datasets (anonymous too, where ``public_reads`` allows
  reads without a token). A private dataset is read by its group's members (any role),
  by server admins, by server-wide tokens and by the holder of a share link of it.
* Writing a dataset (and what follows it) needs ``writer`` in its group; server admins
  and server-wide tokens (every token made before users existed) write everywhere. A
  dataset with no group (legacy, public) is written by server-wide tokens and admins.
* Moving a dataset to another group, or changing its visibility, needs ``admin`` of
  its group (and ``writer`` in the group it moves to); server admins may do it anywhere.
* A token's scope caps its user's role: ``read`` → reader, ``write`` → writer.
* What a principal may not read does not exist for it: the API sets the request's
  :class:`Hidden` as the store's ``READ_FILTER``, so every read of the store leaves it
  out (:func:`restrict`, a ``where`` the store runs, so paging, ``where`` and ``sort``
  never see it) and every route answers for it exactly as for a missing document.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .resources import get_path
from .store import Doc, Store

log = logging.getLogger(__name__)

_RANK = {"reader": 1, "writer": 2, "admin": 3}
_SCOPE_RANK = {"read": 1, "write": 2, "admin": 3}
#: The two visibilities of a dataset.
VISIBILITIES = ("public", "private")

#: Resources that follow their dataset: ``resource -> (field, "dataset" | "analysis")``,
#: the field holding the id of the dataset (or analysis) whose visibility they share.
FOLLOWS: dict[str, tuple[str, str]] = {
    "dataset": ("_id", "dataset"),
    "analysis": ("_id", "analysis"),
    "job": ("associatedDataset.dataset", "dataset"),
    "vignette": ("dataset", "dataset"),
    "annotation": ("analysis", "analysis"),
}


@dataclass(frozen=True)
class Principal:
    """Who sends a request: a user's token, a server-wide token, a share link or nobody.

    ``name`` is what audit lines and ``_updatedBy`` record (the user, or the server-wide
    token's name); ``scope`` is None for anonymous and share-link readers.
    """

    name: str | None = None
    user: str | None = None
    scope: str | None = None
    server_wide: bool = False
    admin: bool = False
    roles: Mapping[str, str] = field(default_factory=dict)
    share: str | None = None

    @property
    def can_write_somewhere(self) -> bool:
        """True when the token's scope allows writes at all."""
        return _SCOPE_RANK.get(self.scope or "", 0) >= 2

    def rank_in(self, group: str | None) -> int:
        """Return the principal's role in ``group`` as 0 (none) .. 3 (admin), capped by scope."""
        cap = _SCOPE_RANK.get(self.scope or "", 0)
        if self.server_wide:
            return min(cap, 2)
        if self.admin:
            return cap
        if group is None:
            return 0
        return min(_RANK.get(self.roles.get(group, ""), 0), cap)

    @property
    def sees_everything(self) -> bool:
        """Server-wide tokens and server admins read every dataset."""
        return self.server_wide or (self.admin and self.scope is not None)


ANONYMOUS = Principal()


def is_private(dataset: Mapping[str, Any]) -> bool:
    """True when the dataset's ``visibility`` is ``"private"``."""
    return dataset.get("visibility") == "private"


def can_read(principal: Principal, dataset: Mapping[str, Any]) -> bool:
    """May ``principal`` read ``dataset`` (and what follows it)?"""
    if not is_private(dataset) or principal.sees_everything:
        return True
    if principal.share is not None and principal.share == dataset.get("_id"):
        return True
    group = dataset.get("group")
    return group is not None and principal.rank_in(group) >= 1


def can_write(principal: Principal, dataset: Mapping[str, Any]) -> bool:
    """May ``principal`` write ``dataset`` (and what follows it)?"""
    if principal.server_wide or principal.admin:
        return principal.can_write_somewhere
    return principal.rank_in(dataset.get("group")) >= 2


def can_govern(principal: Principal, dataset: Mapping[str, Any], new_group: str | None) -> bool:
    """May ``principal`` set ``dataset``'s group to ``new_group`` or change its visibility?"""
    if principal.admin:
        return principal.rank_in(None) >= 3
    if dataset.get("group") is None and not dataset.get("_id"):  # a new dataset
        return principal.rank_in(new_group) >= 3
    return (principal.rank_in(dataset.get("group")) >= 3
            and (new_group is None or principal.rank_in(new_group) >= 2))


def default_group(principal: Principal) -> str | None:
    """The group a new dataset of ``principal`` goes to: its only writable group, else None."""
    groups = [g for g in sorted(principal.roles) if principal.rank_in(g) >= 2]
    return groups[0] if len(groups) == 1 else None


@dataclass(frozen=True)
class Hidden:
    """The ids a principal may not see: private datasets of other groups and their analyses."""

    dataset: frozenset[str] = frozenset()
    analysis: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.dataset or self.analysis)

    def where(self, resource: str) -> dict[str, Any] | None:
        """The store filter leaving these documents of ``resource`` out (:func:`restrict`)."""
        return restrict(resource, self)

    def visible(self, resource: str, doc: Mapping[str, Any]) -> bool:
        """Whether ``doc`` of ``resource`` is outside these ids (:func:`visible`)."""
        return visible(resource, doc, self)


NOTHING_HIDDEN = Hidden()


def hidden_for(store: Store, principal: Principal) -> Hidden:
    """Return what ``principal`` may not see (two queries; nothing for server-wide readers)."""
    if principal.sees_everything:
        return NOTHING_HIDDEN
    where: dict[str, Any] = {"visibility": "private"}
    readable = [g for g in principal.roles if principal.rank_in(g) >= 1]
    if readable:
        where["group"] = {"$nin": readable}
    if principal.share is not None:
        where["_id"] = {"$ne": principal.share}
    private = store.find("dataset", where)
    if not private:
        return NOTHING_HIDDEN
    ids = {d["_id"] for d in private}
    analyses = {a for d in private for a in d.get("analyses") or () if isinstance(a, str)}
    analyses.update(a["_id"] for a in store.find("analysis", {"dataset": {"$in": sorted(ids)}}))
    return Hidden(frozenset(ids), frozenset(analyses))


def restrict(resource: str, hidden: Hidden) -> dict[str, Any] | None:
    """Return the ``where`` that leaves ``hidden`` documents of ``resource`` out (or None)."""
    rule = FOLLOWS.get(resource)
    if rule is None:
        return None
    path, kind = rule
    ids = hidden.dataset if kind == "dataset" else hidden.analysis
    return {path: {"$nin": sorted(ids)}} if ids else None


def combine(where: Mapping[str, Any] | None, extra: Mapping[str, Any] | None
            ) -> dict[str, Any] | None:
    """Return ``where AND extra`` (either may be None)."""
    if not extra:
        return dict(where) if where else None
    if not where:
        return dict(extra)
    return {"$and": [dict(where), dict(extra)]}




def visible(resource: str, doc: Mapping[str, Any], hidden: Hidden) -> bool:
    """Is ``doc`` of ``resource`` outside ``hidden`` (the same rule :func:`restrict` runs)?"""
    rule = FOLLOWS.get(resource)
    if rule is None or not hidden:
        return True
    path, kind = rule
    ids = hidden.dataset if kind == "dataset" else hidden.analysis
    return get_path(doc, path) not in ids


def owning_dataset(store: Store, resource: str, doc: Mapping[str, Any]) -> Doc | None:
    """Return the dataset ``doc`` of ``resource`` follows (None: it follows none)."""
    rule = FOLLOWS.get(resource)
    if rule is None:
        return None
    path, kind = rule
    ref = get_path(doc, path)
    if kind == "analysis" and resource != "analysis":
        analysis = store.get("analysis", ref) if isinstance(ref, str) else None
        return None if analysis is None else owning_dataset(store, "analysis", analysis)
    if resource == "dataset":
        return dict(doc) if doc.get("_id") else None
    if resource == "analysis":
        if isinstance(doc.get("dataset"), str):
            return store.get("dataset", doc["dataset"])
        found = store.find("dataset", {"analyses": doc.get("_id")}, limit=1) \
            if doc.get("_id") else []
        return found[0] if found else None
    return store.get("dataset", ref) if isinstance(ref, str) else None


def audit(principal: Principal, action: str, resource: str, doc_id: str) -> None:
    """Log one line naming who wrote what."""
    log.info("%s %s %s by %s", action, resource, doc_id, principal.name or "anonymous")


class WriteRefused(Exception):  # noqa: N818 - a verdict, not a failure of the code
    """A write the principal may not make: ``hidden`` when it may not even see the target
    (the API answers as for a missing document), else a 403 with ``message``."""

    def __init__(self, message: str, *, hidden: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.hidden = hidden


_NOT_YOURS = ("this token may not write this dataset or what belongs to it: writes need "
              "the writer role in the dataset's group (`bioblocks group add GROUP USER "
              "--role writer`) and a token of scope write; a new document names its dataset")
_GOVERN = ("moving a dataset to another group or changing its visibility needs the admin "
           "role in its group (and writer in the group it moves to)")


def _visibility(value: Any) -> str:
    return "private" if value == "private" else "public"


def authorize_write(store: Store, principal: Principal, resource: str,
                    current: Mapping[str, Any] | None,
                    body: Mapping[str, Any] | None) -> dict[str, Any]:
    """Check one write of ``resource`` (``current``: the stored document, ``body``: what
    the client sends; either may be None) and return fields to add to ``body`` (a new
    dataset of a user: its ``group`` and ``visibility``). Raises :class:`WriteRefused`."""
    if resource not in FOLLOWS:
        return {}
    everywhere = principal.server_wide or principal.admin
    if current is not None:
        owner = owning_dataset(store, resource, current)
        if owner is not None and not can_read(principal, owner):
            raise WriteRefused("not found", hidden=True)
        allowed = can_write(principal, owner) if owner is not None else everywhere
        if not allowed:
            raise WriteRefused(_NOT_YOURS)
    if body is None:
        return {}
    if resource == "dataset":
        return _authorize_dataset(principal, current, body)
    merged = {**(current or {}), **body}
    owner = owning_dataset(store, resource, merged)
    if owner is None and everywhere:
        return {}
    # a missing, a hidden and a read-only dataset get the same answer (nothing to probe)
    if owner is None or not can_read(principal, owner) or not can_write(principal, owner):
        raise WriteRefused(_NOT_YOURS)
    return {}


def _authorize_dataset(principal: Principal, current: Mapping[str, Any] | None,
                       body: Mapping[str, Any]) -> dict[str, Any]:
    base = dict(current or {})
    extra: dict[str, Any] = {}
    group = body.get("group", base.get("group"))
    visibility = _visibility(body.get("visibility", base.get("visibility")))
    if current is None:
        if not (principal.server_wide or principal.admin):
            group = body.get("group") or default_group(principal)
            if group is None:
                raise WriteRefused("name the group the new dataset belongs to in `group` "
                                   "(one you are a writer of)")
            visibility = _visibility(body.get("visibility", "private"))
            extra = {"group": group, "visibility": visibility}
            if not can_write(principal, {"group": group}):
                raise WriteRefused(_NOT_YOURS)
            needs_admin = visibility == "public"
        else:
            needs_admin = group is not None or visibility == "private"
        if needs_admin and not can_govern(principal, {}, group):
            raise WriteRefused(_GOVERN)
        return extra
    moved = group != base.get("group")
    if (moved or visibility != _visibility(base.get("visibility"))) and not can_govern(
            principal, base, group if moved else None):
        raise WriteRefused(_GOVERN)
    # a replacement that leaves them out keeps them (a PUT must not publish a dataset)
    return {k: base[k] for k in ("group", "visibility") if k in base and k not in body}


def authorize_bulk_delete(principal: Principal, resource: str) -> None:
    """Deleting every document matching a filter needs a server-wide token or an admin."""
    if resource in FOLLOWS and not (principal.server_wide or principal.admin):
        raise WriteRefused(f"deleting {resource} documents by filter needs a server-wide "
                           "token or a server admin; delete them one by one")

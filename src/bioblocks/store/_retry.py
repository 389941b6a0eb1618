"""The one retry-on-conflict loop of the project: redo a compare-and-swap that lost a race.

Both :meth:`Store.patch` without an etag (merge into whatever is stored now) and
:func:`bioblocks.store.update_with_retry` (read, change, write with the read
``_etag``) lose a race when another writer changed the document in between;
they call :func:`retry_on_conflict` to read and try again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from ..errors import ConflictError

log = logging.getLogger(__name__)

T = TypeVar("T")


def retry_on_conflict(
    attempt: Callable[[], T],
    *,
    attempts: int,
    what: str,
    conflict: type[ConflictError] = ConflictError,
) -> T:
    """Call ``attempt`` until it does not raise ``conflict`` (a lost race); return its result.

    ``attempt`` must read the document afresh each time. Other exceptions pass
    through at once. Raises ``conflict`` naming ``what`` (e.g. ``"job <id>"``)
    after ``attempts`` lost races.
    """
    for _ in range(attempts):
        try:
            return attempt()
        except conflict:
            log.debug("concurrent change of %s; retrying", what)
    raise conflict(f"{what} kept changing; gave up after {attempts} attempts")

"""One line of the reliability table."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Row:
    """What one check tried and how much of it held.

    ``tried`` counts the attempts (requests, files, kills...), ``held`` those
    that behaved as required; the check holds when both are equal and non-zero
    and ``error`` is empty (an exception in the check itself).
    """

    check: str
    tried: int
    held: int
    notes: str = ""
    seconds: float = 0.0
    error: str = ""

    @property
    def ok(self) -> bool:
        """True when everything tried held."""
        return self.tried > 0 and self.held == self.tried and not self.error

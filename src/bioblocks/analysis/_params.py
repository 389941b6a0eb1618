"""The rules every analysis's parameters obey: the base of
:class:`~bioblocks.analysis.SpringParams`, :class:`~bioblocks.analysis.TsneParams` and
:class:`~bioblocks.analysis.UmapParams` (each a frozen dataclass beside its runner).

One set of rules checks every field on creation, chosen by its type hint and its
class's tables:

* numbers (``float``) and integers (``int``, never a bool) lie within inclusive bounds
  (``_ranges``); a field typed ``... | None`` may also be None (its default is then
  chosen by the runner, often from the number of cells);
* a text field lies among its names (``_choices``);
* a gene list (``tuple[str, ...]``) holds names only;
* the seed is an integer (never a bool) in 0..2^32-1, default 0 (:func:`check_seed`).

``from_dict`` first parses the text of ``--param name=value`` (numbers, comma-separated
gene lists, ``none``). The bounds that depend on the number of cells analysed are
checked by ``for_cells``, which also fills in the defaults that depend on it: the
pipeline calls it with an upper bound (the dataset's cells) before any matrix is read,
the runners with the real count.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import ClassVar, Self

import numpy as np

from bioblocks.errors import AnalysisInputError

__all__ = ["SEED_MAX", "Params", "check_seed", "number_text"]

#: The largest seed (numpy's and the layouts' generators take 32 bits).
SEED_MAX = 2**32 - 1


def check_seed(value: object, *, field: str = "seed") -> int:
    """Return ``value`` as an ``int`` if it is an integer (not a bool) in 0..2^32-1.

    Raises :class:`AnalysisInputError` naming ``field`` otherwise.
    """
    if (isinstance(value, bool) or not isinstance(value, int | np.integer)
            or not 0 <= value <= SEED_MAX):
        raise AnalysisInputError(f"must be an integer in 0..2^32-1, got {value!r}", field=field)
    return int(value)


def number_text(x: float) -> str:
    """``x`` as messages write it: ``3`` rather than ``3.0``."""
    return str(int(x)) if float(x).is_integer() else str(x)


def _one_of(names: tuple[str, ...]) -> str:
    quoted = [repr(n) for n in names]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"


_KINDS: dict[type, dict[str, tuple[set[object], bool]]] = {}


def _kinds(cls: type) -> dict[str, tuple[set[object], bool]]:
    """Field name → (the types its hint allows, whether None is allowed), per class."""
    if cls not in _KINDS:
        out: dict[str, tuple[set[object], bool]] = {}
        for name, hint in typing.get_type_hints(cls).items():
            if typing.get_origin(hint) is ClassVar:
                continue
            args = set(typing.get_args(hint)) if isinstance(hint, types.UnionType) else {hint}
            out[name] = ({typing.get_origin(a) or a for a in args} - {type(None)},
                         type(None) in args)
        _KINDS[cls] = out
    return _KINDS[cls]


@dataclass(frozen=True)
class Params:
    """The checks, parsing and conversions the analyses' parameter classes share, and the
    field they all have.

    Attributes
    ----------
    seed
        Seed of every random step of the analysis (default 0, recorded with its results).
    """

    #: The process named in messages ("unknown SPRING parameter").
    _label: ClassVar[str] = ""
    #: Inclusive bounds of the numeric fields (the seed's are :data:`SEED_MAX`'s).
    _ranges: ClassVar[Mapping[str, tuple[float, float]]] = {}
    #: The names a text field may take.
    _choices: ClassVar[Mapping[str, tuple[str, ...]]] = {}

    seed: int = 0

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, self._checked(f.name, getattr(self, f.name)))

    @classmethod
    def _checked(cls, name: str, value: object) -> object:
        allowed, optional = _kinds(cls)[name]
        if value is None and optional:
            return None
        if name == "seed":
            return check_seed(value, field=name)
        if name in cls._choices:
            if not isinstance(value, str) or value not in cls._choices[name]:
                raise AnalysisInputError(f"must be {_one_of(cls._choices[name])}, got {value!r}",
                                         field=name)
            return value
        if tuple in allowed:
            if (isinstance(value, str) or not isinstance(value, Iterable)
                    or not all(isinstance(g, str) for g in value)):
                raise AnalysisInputError("must be a list of gene names", field=name)
            return tuple(value)
        integral = int in allowed and float not in allowed
        if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
            raise AnalysisInputError(
                f"must be {'an integer' if integral else 'a number'}, got {value!r}", field=name)
        if not np.isfinite(value) or (integral and float(value) != int(value)):
            raise AnalysisInputError(
                f"must be {'an integer' if integral else 'a finite number'}, got {value!r}",
                field=name)
        lo, hi = cls._ranges[name]
        if not lo <= value <= hi:
            raise AnalysisInputError(
                f"must be between {number_text(lo)} and {number_text(hi)}, got {value!r}",
                field=name)
        return int(value) if integral or isinstance(value, int | np.integer) else float(value)

    @classmethod
    def _parsed(cls, name: str, value: object) -> object:
        """``value`` with text parsed as the field's kind (others are left as they are)."""
        if not isinstance(value, str):
            return value
        allowed, optional = _kinds(cls)[name]
        text = value.strip()
        if optional and text.lower() in ("", "none", "null"):
            return None
        if tuple in allowed:
            return tuple(g.strip() for g in text.split(",") if g.strip())
        if name in cls._choices:
            return text
        if name == "seed":  # an integer, or the text itself for check_seed to refuse
            return int(text) if text.isdigit() else value
        try:
            return int(text)
        except ValueError:
            try:
                return float(text)
            except ValueError:
                raise AnalysisInputError(f"must be a number, got {value!r}", field=name) from None

    def to_dict(self) -> dict[str, object]:
        """Return every parameter as JSON-compatible values (tuples become lists)."""
        out: dict[str, object] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_dict(cls, values: Mapping[str, object], *, others: Collection[str] = ()) -> Self:
        """Build parameters from a mapping (for example parsed ``--param name=value``).

        Text is parsed first: numbers, comma-separated gene lists, and ``none`` (or
        empty) for a field that may be None. Names in ``others`` are the caller's own
        (``springAnalysis``): they are skipped, and listed among the known names.

        Raises
        ------
        AnalysisInputError
            For an unknown name or a value of the wrong type or out of range (``field``
            names the parameter).
        """
        known = [f.name for f in dataclasses.fields(cls)]
        kwargs: dict[str, object] = {}
        for name, value in values.items():
            if name in others:
                continue
            if name not in known:
                names = ", ".join(sorted([*known, *others]))
                raise AnalysisInputError(f"unknown {cls._label} parameter; known: {names}",
                                         field=name)
            kwargs[name] = cls._parsed(name, value)
        return cls(**kwargs)  # type: ignore[arg-type]

    def for_cells(self, n_cells: int) -> Self:
        """Return these parameters for ``n_cells`` analysed cells (see the subclasses)."""
        return self

"""Value objects parsed from Azul responses: projects, their matrix files, catalogs.

Parsing follows the tolerance rules of ``spec/hca-azul.md`` §6: the matrix trees
are walked generically (keys alternate between a dimension and a value, leaves
are lists of file objects, duplicates are merged by ``uuid``), a file's format
comes from its name suffix before the declared ``format``, fields of
``projects[0]`` may be scalars or lists, and unknown keys are ignored.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote, urlencode

from ...resources.dataset import SPECIES

logger = logging.getLogger(__name__)

#: The dataset ``species`` enum of the metadata store.
DATASET_SPECIES: frozenset[str] = frozenset(SPECIES)

MatrixFormat = Literal["loom", "h5ad", "mtx", "csv", "other"]
#: Formats the dataset importer reads (``.loom``, ``.h5ad``, ``.mtx.zip``, ``.csv.zip``).
IMPORTABLE_FORMATS: tuple[MatrixFormat, ...] = ("h5ad", "loom", "mtx", "csv")
#: File sources whose matrices sit in the ``matrices`` tree ("DCP-generated").
DCP_SOURCES: frozenset[str] = frozenset({"DCP/2 Analysis", "DCP/2 Ingest", "DCP/1 Matrix Service"})

_SUFFIXES: tuple[tuple[str, MatrixFormat], ...] = (
    (".mtx.zip", "mtx"),
    (".csv.zip", "csv"),
    (".loom", "loom"),
    (".h5ad", "h5ad"),
)
_DECLARED: Mapping[str, MatrixFormat] = {"loom": "loom", "h5ad": "h5ad"}


def species_to_dataset(genus_species: str | None) -> str | None:
    """Map an HCA ``genusSpecies`` value (``"Homo sapiens"``) to the dataset enum (``homo_sapiens``).

    Returns None when the value is missing or not in :data:`DATASET_SPECIES`.
    """
    if not genus_species:
        return None
    key = re.sub(r"\s+", "_", genus_species.strip()).lower()
    return key if key in DATASET_SPECIES else None


def species_to_hca(species: str) -> str:
    """Map a dataset species (``homo_sapiens``) or HCA name to Azul's ``genusSpecies`` spelling."""
    words = species.strip().replace("_", " ").split()
    if not words:
        return species
    return " ".join([words[0].capitalize(), *(w.lower() for w in words[1:])])


def format_from_name(name: str, declared: str | None = None) -> MatrixFormat:
    """Return the matrix format of a file: from its name suffix, else its declared ``format``.

    ``.mtx.zip`` → ``mtx`` and ``.csv.zip`` → ``csv`` (Azul declares both as ``zip``);
    anything the importer cannot read is ``other``.
    """
    lower = name.lower()
    for suffix, fmt in _SUFFIXES:
        if lower.endswith(suffix):
            return fmt
    return _DECLARED.get((declared or "").strip().lower(), "other")


def _as_list(value: Any) -> list[Any]:
    """Scalars become one-element lists, None an empty list (fields vary across indices)."""
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    return [value]


def _first(value: Any) -> Any:
    items = [v for v in _as_list(value) if v is not None]
    return items[0] if items else None


def _strings(values: Iterable[Any]) -> tuple[str, ...]:
    """Distinct non-empty strings, in first-seen order."""
    seen: dict[str, None] = {}
    for value in values:
        if isinstance(value, str) and value.strip():
            seen.setdefault(value, None)
    return tuple(seen)


def _int_or_none(value: Any) -> int | None:
    value = _first(value)
    if isinstance(value, bool) or value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class MatrixFile:
    """One project-level matrix file listed in a project's ``matrices`` or ``contributedAnalyses``."""

    uuid: str
    version: str | None
    name: str
    format: MatrixFormat
    declared_format: str | None
    size: int | None
    sha256: str | None
    cell_count: int | None
    dcp_generated: bool
    file_source: str | None
    content_description: tuple[str, ...] = ()
    azul_url: str | None = None
    url: str | None = None
    strata: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def origin(self) -> str:
        """``"DCP-generated"`` or ``"contributed"``."""
        return "DCP-generated" if self.dcp_generated else "contributed"

    @property
    def importable(self) -> bool:
        """Whether the dataset importer reads this format."""
        return self.format in IMPORTABLE_FORMATS

    @property
    def species(self) -> tuple[str, ...]:
        """``genusSpecies`` values of the branches this file sits under (``Unspecified`` dropped)."""
        return tuple(v for v in self.strata.get("genusSpecies", ()) if v != "Unspecified")

    @property
    def organs(self) -> tuple[str, ...]:
        """``organ`` values of the branches this file sits under (``Unspecified`` dropped)."""
        return tuple(v for v in self.strata.get("organ", ()) if v != "Unspecified")

    def repository_url(self, *, base_url: str, catalog: str) -> str:
        """The Azul ``/repository/files`` URL of this file: ``azul_url``, else ``url``, else built.

        Built as ``{base_url}/repository/files/{uuid}?catalog=...&version=...`` when the
        index gave neither link (spec §6.1; the fetch endpoint then answers 404 if the
        file really has no download).
        """
        if self.azul_url:
            return self.azul_url
        if self.url:
            return self.url
        params = {"catalog": catalog}
        if self.version:
            params["version"] = self.version
        return (
            f"{base_url.rstrip('/')}/repository/files/{quote(self.uuid, safe='')}?"
            f"{urlencode(params)}"
        )


@dataclass(frozen=True)
class Contributor:
    """A project contributor; ``name`` is the display form of Azul's ``First,Middle,Last``."""

    name: str
    institution: str | None = None
    laboratory: str | None = None
    role: str | None = None
    corresponding: bool = False


def _contact_name(raw: str) -> str:
    """``"Ada,,Example"`` → ``"Ada Example"``."""
    return " ".join(part.strip() for part in raw.split(",") if part.strip())


@dataclass(frozen=True)
class Project:
    """One hit of the Azul projects index, reduced to what listing and import need."""

    project_id: str
    short_name: str
    title: str
    species: tuple[str, ...]
    organs: tuple[str, ...]
    estimated_cells: int | None
    contributors: tuple[Contributor, ...]
    laboratories: tuple[str, ...]
    matrices: tuple[MatrixFile, ...]
    accessible: bool = True

    @property
    def dataset_species(self) -> str | None:
        """The dataset enum species when the project has exactly one mappable species."""
        mapped = {species_to_dataset(s) for s in self.species}
        mapped.discard(None)
        return next(iter(mapped)) if len(mapped) == 1 else None

    @property
    def authors(self) -> list[str]:
        """Contributor names in Azul's order, de-duplicated."""
        return list(_strings(c.name for c in self.contributors))

    def importable_matrices(self) -> list[MatrixFile]:
        """Matrix files the dataset importer can read, in preference order (see :func:`rank`)."""
        return sorted((m for m in self.matrices if m.importable), key=rank)


#: Order of file sources: current DCP/2 pipeline output, then legacy DCP/1, then contributors.
_SOURCE_RANK: Mapping[str, int] = {"DCP/2 Analysis": 0, "DCP/2 Ingest": 0, "DCP/1 Matrix Service": 1}
_FORMAT_RANK: Mapping[str, int] = {fmt: i for i, fmt in enumerate(IMPORTABLE_FORMATS)}


def rank(matrix: MatrixFile) -> tuple[int, int, int, int, str]:
    """Sort key of the matrix preference order used when no file is named.

    1. **DCP-generated before contributed**, and the current DCP/2 pipeline output
       before the legacy DCP/1 Matrix Service files. DCP matrices are raw counts of
       every cell, processed uniformly (Optimus) with one gene annotation, which is
       what the server's own normalisation and SPRING/t-SNE/UMAP analyses expect;
       contributed matrices may be normalised, filtered or subset in ways the
       metadata does not say.
    2. **Format**: ``h5ad`` (the canonical store: read without conversion) > ``loom``
       (HDF5, read directly) > ``mtx.zip`` (sparse text) > ``csv.zip`` (dense text,
       the largest and slowest to parse).
    3. **Files with a download link** (``azul_url`` or ``url``) before files whose link
       must be built, which may be "phantom" files with no download.
    4. **Smallest file** (fewest bytes to fetch; unknown sizes last), then the name,
       so the choice is deterministic.
    """
    source = _SOURCE_RANK.get(matrix.file_source or "", 0) if matrix.dcp_generated else 2
    fmt = _FORMAT_RANK.get(matrix.format, len(_FORMAT_RANK))
    linked = 0 if (matrix.azul_url or matrix.url) else 1
    size = matrix.size if matrix.size is not None else 2**63
    return (source, fmt, linked, size, matrix.name)


def walk_matrix_tree(
    tree: Any, *, dcp_generated: bool, path: tuple[tuple[str, str], ...] = ()
) -> Iterable[tuple[dict[str, Any], tuple[tuple[str, str], ...]]]:
    """Yield ``(leaf file object, ((dimension, value), ...))`` for every leaf of a matrix tree.

    The tree alternates dimension keys and value keys; lists are leaves. Any depth
    and order of dimensions is accepted.
    """
    if isinstance(tree, list):
        for item in tree:
            if isinstance(item, Mapping):
                yield dict(item), path
        return
    if not isinstance(tree, Mapping):
        return
    for dimension, values in tree.items():
        if isinstance(values, list):  # a leaf directly under a dimension: tolerate it
            yield from walk_matrix_tree(values, dcp_generated=dcp_generated, path=path)
            continue
        if not isinstance(values, Mapping):
            continue
        for value, subtree in values.items():
            yield from walk_matrix_tree(
                subtree, dcp_generated=dcp_generated, path=(*path, (str(dimension), str(value)))
            )


def parse_matrix_trees(
    matrices: Any, contributed: Any
) -> tuple[MatrixFile, ...]:
    """Parse both matrix trees of a project into files, de-duplicated by ``uuid``.

    A file found under several branches keeps the union of its strata; a file in
    both trees counts as DCP-generated. Leaves without a ``uuid`` are skipped.
    """
    found: dict[str, dict[str, Any]] = {}
    strata: dict[str, dict[str, dict[str, None]]] = {}
    dcp: dict[str, bool] = {}
    for tree, is_dcp in ((matrices, True), (contributed, False)):
        for leaf, path in walk_matrix_tree(tree, dcp_generated=is_dcp):
            uuid = leaf.get("uuid")
            if not isinstance(uuid, str) or not uuid:
                logger.warning("skipping a matrix leaf without uuid: %r", leaf.get("name"))
                continue
            found.setdefault(uuid, leaf)
            dcp[uuid] = dcp.get(uuid, False) or is_dcp
            per_file = strata.setdefault(uuid, {})
            for dimension, value in path:
                per_file.setdefault(dimension, {}).setdefault(value, None)
    files = []
    for uuid, leaf in found.items():
        name = str(_first(leaf.get("name")) or uuid)
        declared = _first(leaf.get("format"))
        files.append(
            MatrixFile(
                uuid=uuid,
                version=_first(leaf.get("version")),
                name=name,
                format=format_from_name(name, declared),
                declared_format=declared,
                size=_int_or_none(leaf.get("size")),
                sha256=(_first(leaf.get("sha256")) or None),
                cell_count=_int_or_none(leaf.get("matrixCellCount")),
                dcp_generated=dcp[uuid],
                file_source=_first(leaf.get("fileSource")),
                content_description=_strings(_as_list(leaf.get("contentDescription"))),
                azul_url=_first(leaf.get("azul_url")) or None,
                url=_first(leaf.get("url")) or None,
                strata={dim: tuple(values) for dim, values in strata[uuid].items()},
            )
        )
    return tuple(files)


def parse_project(hit: Mapping[str, Any]) -> Project:
    """Build a :class:`Project` from one projects-index hit (search page or single project).

    Raises ``ValueError`` when the hit has no project id.
    """
    projects = _as_list(hit.get("projects"))
    inner: Mapping[str, Any] = projects[0] if projects and isinstance(projects[0], Mapping) else {}
    project_id = _first(inner.get("projectId")) or hit.get("entryId")
    if not project_id:
        raise ValueError("Azul project hit without projectId/entryId")
    species = _strings(
        s for donor in _as_list(hit.get("donorOrganisms")) if isinstance(donor, Mapping)
        for s in _as_list(donor.get("genusSpecies"))
    )
    organs = _strings(
        o for key in ("specimens", "samples") for entity in _as_list(hit.get(key))
        if isinstance(entity, Mapping) for o in _as_list(entity.get("organ"))
    )
    contributors = tuple(
        Contributor(
            name=_contact_name(str(c.get("contactName") or "")),
            institution=c.get("institution"),
            laboratory=c.get("laboratory"),
            role=c.get("projectRole"),
            corresponding=bool(c.get("correspondingContributor")),
        )
        for c in _as_list(inner.get("contributors"))
        if isinstance(c, Mapping) and _contact_name(str(c.get("contactName") or ""))
    )
    matrices = parse_matrix_trees(inner.get("matrices"), inner.get("contributedAnalyses"))
    if not species:  # fall back on the strata of the matrices
        species = _strings(s for m in matrices for s in m.species)
    return Project(
        project_id=str(project_id),
        short_name=str(_first(inner.get("projectShortname")) or project_id),
        title=str(_first(inner.get("projectTitle")) or ""),
        species=species,
        organs=organs,
        estimated_cells=_int_or_none(inner.get("estimatedCellCount")),
        contributors=contributors,
        laboratories=_strings(_as_list(inner.get("laboratory"))),
        matrices=matrices,
        accessible=inner.get("accessible", True) is not False,
    )


@dataclass(frozen=True)
class Catalog:
    """One entry of ``/index/catalogs``."""

    name: str
    atlas: str | None
    internal: bool


@dataclass(frozen=True)
class CatalogList:
    """``/index/catalogs``: the default catalog and every catalog."""

    default: str | None
    catalogs: tuple[Catalog, ...]

    @property
    def public_hca(self) -> list[str]:
        """Names of the catalogs an importer may use: atlas ``hca`` and not internal."""
        return [c.name for c in self.catalogs if c.atlas == "hca" and not c.internal]

    def __contains__(self, name: object) -> bool:
        return any(c.name == name for c in self.catalogs)


def parse_catalogs(body: Mapping[str, Any]) -> CatalogList:
    """Parse the body of ``/index/catalogs``."""
    raw = body.get("catalogs")
    entries = raw if isinstance(raw, Mapping) else {}
    catalogs = tuple(
        Catalog(
            name=str(name),
            atlas=(entry.get("atlas") if isinstance(entry, Mapping) else None),
            internal=bool(entry.get("internal")) if isinstance(entry, Mapping) else False,
        )
        for name, entry in entries.items()
    )
    default = body.get("default_catalog")
    return CatalogList(default=str(default) if default else None, catalogs=catalogs)

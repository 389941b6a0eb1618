"""Listing with filters, choosing a project's matrix, and preparing an import."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import InputError
from ...progress import Progress, null_progress, scaled
from ._client import AzulClient
from ._download import DEFAULT_MAX_BYTES, download_matrix
from ._models import (
    IMPORTABLE_FORMATS,
    MatrixFile,
    Project,
    species_to_dataset,
    species_to_hca,
)

logger = logging.getLogger(__name__)

#: Azul ``fileFormat`` values behind each importable format (mtx.zip and csv.zip are ``zip``).
_AZUL_FORMATS: Mapping[str, tuple[str, ...]] = {
    "loom": ("loom",),
    "h5ad": ("h5ad",),
    "mtx": ("zip",),
    "csv": ("zip",),
}
_NAME_MAX, _AUTHOR_MAX = 128, 64


def _matches(
    matrix: MatrixFile,
    project: Project,
    *,
    species: str | None,
    organ: str | None,
    fmt: str | None,
) -> bool:
    """Whether a matrix file fits the filters (strata first, the project's aggregates if absent)."""
    if not matrix.importable or (fmt and matrix.format != fmt):
        return False
    if species:
        values = matrix.species or project.species
        if species_to_hca(species).lower() not in {v.lower() for v in values}:
            return False
    if organ:
        values = matrix.organs or project.organs
        if organ.lower() not in {v.lower() for v in values}:
            return False
    return True


def matching_matrices(
    project: Project,
    *,
    species: str | None = None,
    organ: str | None = None,
    fmt: str | None = None,
) -> list[MatrixFile]:
    """The project's importable matrices that fit the filters, in preference order."""
    return [
        m
        for m in project.importable_matrices()
        if _matches(m, project, species=species, organ=organ, fmt=fmt)
    ]


def projects(
    client: AzulClient,
    *,
    species: str | None = None,
    organ: str | None = None,
    fmt: str | None = None,
) -> Iterator[Project]:
    """Yield the catalog's projects that have an importable matrix fitting the filters.

    ``species`` is a dataset species (``homo_sapiens``) or an HCA name (``Homo sapiens``),
    ``organ`` an HCA organ (``kidney``), ``fmt`` one of ``loom``, ``h5ad``, ``mtx``, ``csv``.
    Azul's ``filters`` (``genusSpecies``, ``organ``, ``fileFormat``) narrow the search;
    because a project hit aggregates *all* its files and specimens, a project
    matches them when *any* file has the format or any specimen the organ, so the
    matrix files are checked here as well: the species/organ of the matrix's own
    branches (the project's when the tree has no such dimension) and the format
    from its name suffix.
    """
    if fmt is not None and fmt not in IMPORTABLE_FORMATS:
        raise InputError(
            f"unknown format {fmt!r}; use one of {', '.join(IMPORTABLE_FORMATS)}", field="format"
        )
    filters: dict[str, Any] = {}
    if species:
        filters["genusSpecies"] = {"is": [species_to_hca(species)]}
    if organ:
        filters["organ"] = {"is": [organ]}
    formats = _AZUL_FORMATS[fmt] if fmt else tuple(dict.fromkeys(
        f for key in IMPORTABLE_FORMATS for f in _AZUL_FORMATS[key]
    ))
    filters["fileFormat"] = {"is": list(formats)}
    for project in client.search_projects(filters=filters):
        if matching_matrices(project, species=species, organ=organ, fmt=fmt):
            yield project
        else:
            logger.debug("%s has no matching importable matrix", project.short_name)


def choose_matrix(project: Project, *, file_name: str | None = None) -> MatrixFile:
    """The matrix to import: the one named (file name or uuid), else the preferred one.

    The preference order is :func:`bioblocks.sources.hca.rank` (DCP-generated before
    contributed, then h5ad > loom > mtx.zip > csv.zip, then the smallest).
    Raises :class:`InputError` naming the available files when nothing fits.
    """
    available = ", ".join(f"{m.name} ({m.format})" for m in project.matrices) or "none"
    if file_name:
        wanted = file_name.strip()
        for matrix in project.matrices:
            if wanted in (matrix.name, matrix.uuid):
                chosen = matrix
                break
        else:
            lowered = [m for m in project.matrices if m.name.lower() == wanted.lower()]
            if not lowered:
                raise InputError(
                    f"project {project.short_name} has no matrix file {wanted!r}; "
                    f"its matrix files are: {available}",
                    field="file",
                )
            chosen = lowered[0]
        if not chosen.importable:
            raise InputError(
                f"{chosen.name} is not in a format the importer reads "
                f"(.loom, .h5ad, .mtx.zip, .csv.zip); its matrix files are: {available}",
                field="file",
            )
        return chosen
    candidates = project.importable_matrices()
    if not candidates:
        raise InputError(
            f"project {project.short_name} has no matrix the importer reads "
            f"(.loom, .h5ad, .mtx.zip, .csv.zip); its matrix files are: {available}",
            field="project",
        )
    return candidates[0]


def same_version(existing_hca: Mapping[str, Any] | None, project: Project, file: MatrixFile) -> bool:
    """Whether a dataset's ``hca`` block records this project's file at this version."""
    if not existing_hca:
        return False
    return (
        existing_hca.get("projectId") == project.project_id
        and existing_hca.get("fileId") == file.uuid
        and existing_hca.get("version") == file.version
    )


@dataclass(frozen=True)
class PreparedImport:
    """The result of :func:`prepare_import`.

    ``path`` is the verified local matrix file, or None when ``skipped`` (the dataset
    already holds this file version). ``warnings`` lists what a curator should fix by
    hand (e.g. a species outside the dataset enum).
    """

    project: Project
    file: MatrixFile
    catalog: str
    path: Path | None
    skipped: bool = False
    warnings: tuple[str, ...] = ()

    @property
    def species(self) -> str | None:
        """The dataset species: the file's own ``genusSpecies`` branch, else the project's."""
        mapped = {species_to_dataset(s) for s in self.file.species} - {None}
        if len(mapped) == 1:
            return next(iter(mapped))
        return self.project.dataset_species

    def hca_block(self) -> dict[str, Any]:
        """The dataset's ``hca`` block: what a re-import compares to skip the same version."""
        return {
            "projectId": self.project.project_id,
            "catalog": self.catalog,
            "fileId": self.file.uuid,
            "version": self.file.version,
            "sha256": self.file.sha256,
            "fileName": self.file.name,
        }

    def dataset_fields(self) -> dict[str, Any]:
        """Dataset fields to create/update: ``name``, ``species`` (when mapped), ``authors``, ``hca``.

        Values are cut to the dataset schema's lengths (name 128, authors 64).
        """
        fields: dict[str, Any] = {
            "name": self.project.short_name[:_NAME_MAX],
            "authors": [a[:_AUTHOR_MAX] for a in self.project.authors],
            "hca": self.hca_block(),
        }
        if self.species:
            fields["species"] = self.species
        return fields


def prepare_import(
    client: AzulClient,
    project: str | Project,
    *,
    file_name: str | None = None,
    dest_dir: Path,
    progress: Progress = null_progress,
    existing_hca: Mapping[str, Any] | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> PreparedImport:
    """Find the project, choose its matrix, download and verify it into ``dest_dir``.

    ``project`` is a UUID, a short name or a :class:`Project`. When ``existing_hca``
    (the ``hca`` block of the dataset already imported) names the same project, file
    and version, nothing is downloaded and the result has ``skipped=True``.
    Returns a :class:`PreparedImport`; writes only ``dest_dir/<uuid>-<name>`` (and its
    ``.part`` while downloading).
    """
    progress(0.0, "looking up the HCA project")
    found = project if isinstance(project, Project) else client.find_project(project)
    file = choose_matrix(found, file_name=file_name)
    warnings: list[str] = []
    if same_version(existing_hca, found, file):
        logger.info("%s: %s version %s is already imported", found.short_name, file.name, file.version)
        progress(1.0, "already imported")
        return PreparedImport(found, file, client.catalog, None, skipped=True)
    logger.info("%s: importing %s (%s, %s)", found.short_name, file.name, file.format, file.origin)
    path = download_matrix(
        client, file, dest_dir, max_bytes=max_bytes, progress=scaled(progress, 0.02, 1.0)
    )
    prepared = PreparedImport(found, file, client.catalog, path)
    if prepared.species is None:
        names = ", ".join(file.species or found.species) or "none"
        warnings.append(
            f"species {names} does not map to one dataset species; set `species` on the dataset"
        )
        logger.warning("%s: %s", found.short_name, warnings[-1])
    return PreparedImport(found, file, client.catalog, path, warnings=tuple(warnings))

"""Human Cell Atlas projects through the Azul REST API (``spec/hca-azul.md``).

* :class:`AzulClient`: a polite, retrying client (``Settings.hca_url``/``hca_catalog``).
* :func:`projects`: list projects with an importable matrix, filtered by species,
  organ and format.
* :func:`prepare_import`: find a project, choose its matrix (:func:`rank` documents
  the preference order), download and verify it; :meth:`PreparedImport.dataset_fields`
  gives the dataset's ``name``, ``species``, ``authors`` and ``hca`` block.
"""

from ._client import AzulClient, TokenBucket, to_fetch_url
from ._download import download_matrix, local_name
from ._errors import AzulError, DownloadVerificationError
from ._import import (
    PreparedImport,
    choose_matrix,
    matching_matrices,
    prepare_import,
    projects,
    same_version,
)
from ._models import (
    DATASET_SPECIES,
    IMPORTABLE_FORMATS,
    Catalog,
    CatalogList,
    Contributor,
    MatrixFile,
    Project,
    format_from_name,
    parse_project,
    rank,
    species_to_dataset,
    species_to_hca,
)

__all__ = [
    "DATASET_SPECIES",
    "IMPORTABLE_FORMATS",
    "AzulClient",
    "AzulError",
    "Catalog",
    "CatalogList",
    "Contributor",
    "DownloadVerificationError",
    "MatrixFile",
    "PreparedImport",
    "Project",
    "TokenBucket",
    "choose_matrix",
    "download_matrix",
    "format_from_name",
    "local_name",
    "matching_matrices",
    "parse_project",
    "prepare_import",
    "projects",
    "rank",
    "same_version",
    "species_to_dataset",
    "species_to_hca",
    "to_fetch_url",
]

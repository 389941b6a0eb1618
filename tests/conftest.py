"""Fixtures shared by the whole suite: shared data, real PostgreSQL and Redis servers.

Service-backed tests talk to the real servers at 127.0.0.1 (PostgreSQL on 5432,
database ``test``, trust auth; Redis on 6379). Outside CI a missing server
skips those tests with a message; with ``CI=true`` it fails them, so CI can
never pass by skipping.
"""

from __future__ import annotations

import gzip
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

POSTGRES_URL = os.environ.get(
    "BIOBLOCKS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("BIOBLOCKS_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    """Skip (or, in CI, fail) the calling test when a real service is not reachable."""
    if _port_open(host, port):
        return
    message = (
        f"{name} is not running on {host}:{port}; start it "
        "(see .ci/run) to run this test"
    )
    if IN_CI:
        pytest.fail(f"CI=true and {message}", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The read-only ``../shared`` folder beside the repository."""
    if not SHARED.is_dir():
        pytest.fail(f"{SHARED} is missing: the tests read real data from ../shared", pytrace=False)
    return SHARED


@pytest.fixture(scope="session")
def hpc_dir(shared_dir: Path) -> Path:
    """The four mouse HPC libraries (dense TSV, ``barcode`` column) and ``genes.txt``."""
    return shared_dir / "data" / "hpc"


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """URL of the real PostgreSQL server (database ``test``)."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    return POSTGRES_URL


@pytest.fixture
def postgres_schema_url(postgres_url: str) -> Iterator[str]:
    """A PostgreSQL URL whose tables live in a fresh schema, dropped after the test."""
    from bioblocks.store import scratch_schema

    with scratch_schema(postgres_url, prefix="t") as url:
        yield url


@pytest.fixture(scope="session")
def redis_url() -> str:
    """URL of the real Redis server (database 15, flushed by tests that use it)."""
    require_service("Redis", "127.0.0.1", 6379)
    return REDIS_URL


# ---- the HPC data after the published per-library filters (SPRING check, viewer tests) ----

HPC_LIBRARIES = {"P9A": 900, "P11A": 700, "P11B": 800, "P12A": 800}
HPC_MAX_MITO = 0.15


@dataclass(frozen=True)
class HpcData:
    """The four HPC libraries after the published per-library cell filters, merged in order."""

    counts: sp.csr_matrix
    genes: list[str]
    library: np.ndarray


def _read_library(path: Path) -> tuple[list[str], sp.csr_matrix]:
    with gzip.open(path, "rt") as handle:
        frame = pd.read_csv(handle, sep="\t", index_col="barcode", dtype={"barcode": str})
    return list(frame.columns), sp.csr_matrix(frame.to_numpy(dtype=np.float64))


def _parse_hpc(hpc_dir: Path) -> HpcData:
    blocks, labels, genes = [], [], None
    for name, min_total in HPC_LIBRARIES.items():
        lib_genes, counts = _read_library(hpc_dir / f"{name}.counts.tsv.gz")
        if genes is None:
            genes = lib_genes
        assert lib_genes == genes
        totals = np.asarray(counts.sum(axis=1)).ravel()
        counts, totals = counts[totals >= min_total], totals[totals >= min_total]
        mito = np.array([g.startswith("mt-") for g in genes])
        mito_frac = np.asarray(counts[:, mito].sum(axis=1)).ravel() / totals
        counts = counts[mito_frac <= HPC_MAX_MITO]
        blocks.append(counts)
        labels += [name] * counts.shape[0]
    assert genes is not None
    return HpcData(sp.vstack(blocks).tocsr(), genes, np.array(labels))


@pytest.fixture(scope="session")
def hpc(
    hpc_dir: Path, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> HpcData:
    """The filtered, merged HPC counts (4,790 cells × 28,205 genes), cached between runs
    in pytest's cache folder (or for this session only when the cache plugin is off)."""
    cache_dir = (
        Path(request.config.cache.mkdir("bioblocks-hpc"))
        if getattr(request.config, "cache", None) is not None
        else tmp_path_factory.mktemp("bioblocks-hpc")
    )
    cache = cache_dir / "hpc_filtered.npz"
    if cache.exists():
        with np.load(cache, allow_pickle=False) as z:
            counts = sp.csr_matrix((z["data"], z["indices"], z["indptr"]), shape=tuple(z["shape"]))
            return HpcData(counts, list(z["genes"]), z["library"])
    data = _parse_hpc(hpc_dir)
    np.savez(
        cache,
        data=data.counts.data,
        indices=data.counts.indices,
        indptr=data.counts.indptr,
        shape=np.array(data.counts.shape),
        genes=np.array(data.genes),
        library=data.library,
    )
    return data


#: Parameters of the published SPRING plot of the HPC data (issue 4's check).
HPC_SPRING_PARAMS = dict(gene_min_counts=3, gene_min_cells=3, gene_var_pctl=85, n_prin_comps=30,
                         n_neighbors=4, n_force_iter=200)  # fmt: skip
HPC_DATASET_ID = "0c9a4f3e-1b2d-4e5f-8a7b-6c5d4e3f2a1b"
HPC_ANALYSIS_ID = "5b7e2d1c-3a4f-4b6e-9d8c-7f6e5d4c3b2a"


@dataclass(frozen=True)
class HpcSpring:
    """A SPRING analysis of the HPC data, written where the server expects it."""

    data_dir: Path
    folder: Path
    result: object


@pytest.fixture(scope="session")
def hpc_spring(hpc: HpcData, tmp_path_factory: pytest.TempPathFactory) -> HpcSpring:
    """Run SPRING once on the HPC data with the published parameters (shared by the tests)."""
    from bioblocks.analysis import SpringParams, run_spring

    data_dir = tmp_path_factory.mktemp("hpc-spring") / "files"
    folder = data_dir / "datasets" / HPC_DATASET_ID / "analyses" / HPC_ANALYSIS_ID
    folder.mkdir(parents=True)
    result = run_spring(hpc.counts, hpc.genes, out_dir=folder, dataset_name="HPC",
                        params=SpringParams(**HPC_SPRING_PARAMS),
                        cell_metadata=pd.DataFrame({"library": hpc.library}))  # fmt: skip
    return HpcSpring(data_dir, folder, result)


@dataclass(frozen=True)
class HpcFamily:
    """The HPC SPRING analysis (``hpc_spring``, hard-linked into a data folder of its own)
    registered in a store beside its imported dataset, with a t-SNE and a UMAP of it run by
    the pipeline: what an export reads."""

    settings: object
    store: object
    dataset_id: str
    spring_id: str
    tsne_id: str
    umap_id: str
    barcodes: np.ndarray


@pytest.fixture(scope="session")
def hpc_family(
    hpc: HpcData, hpc_spring: HpcSpring, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HpcFamily]:
    """``hpc_spring`` as a store's analysis of the HPC dataset (imported from an ``.h5ad`` of
    the same counts, barcodes ``<library>_<n>``), plus t-SNE (250 iterations) and UMAP."""
    import shutil

    import anndata

    from bioblocks.config import Settings
    from bioblocks.pipeline.operations import append_analysis, import_dataset, run_analysis
    from bioblocks.storage import analysis_dir
    from bioblocks.store import insert_doc, open_store

    root = tmp_path_factory.mktemp("hpc-family")
    barcodes = np.array([f"{lib}_{i}" for i, lib in enumerate(hpc.library)])
    source = root / "hpc.h5ad"
    anndata.AnnData(
        X=sp.csr_matrix(hpc.counts, dtype=np.int32),
        obs=pd.DataFrame({"library": pd.Categorical(hpc.library)}, index=barcodes),
        var=pd.DataFrame(index=hpc.genes),
    ).write_h5ad(source)
    settings = Settings(data_dir=root / "files", job_workers=1)
    store = open_store(settings)
    try:
        dataset = import_dataset(store, settings, [source], name="HPC", species="mus_musculus")
        folder = analysis_dir(settings.resolved_data_dir, dataset["_id"], HPC_ANALYSIS_ID)
        shutil.copytree(hpc_spring.folder, folder, copy_function=os.link)
        params = hpc_spring.result.params  # type: ignore[attr-defined]
        n_cells = int(hpc.counts.shape[0])
        insert_doc(store, "analysis", {
            "_id": HPC_ANALYSIS_ID, "name": "HPC", "processType": "SPRING",
            "parameters": {**params.to_dict(), "seed": params.seed, "subsample": n_cells,
                           "subplot": "HPC"},
            "dataset": dataset["_id"], "subsample": n_cells, "seed": params.seed,
            "status": "COMPLETE",
        })  # fmt: skip
        append_analysis(store, dataset["_id"], HPC_ANALYSIS_ID)
        tsne = run_analysis(store, settings, dataset["_id"], process="TSNE",
                            params={"n_iter": 250, "springAnalysis": HPC_ANALYSIS_ID, "seed": 4})
        umap = run_analysis(store, settings, dataset["_id"], process="UMAP",
                            params={"springAnalysis": HPC_ANALYSIS_ID, "seed": 5})
        yield HpcFamily(settings, store, dataset["_id"], HPC_ANALYSIS_ID, tsne["_id"],
                        umap["_id"], barcodes)
    finally:
        store.close()

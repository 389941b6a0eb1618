"""Fixtures of the analysis tests: the HPC libraries parsed once and cached as ``.npz``."""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp


def clustered_counts(
    *, n_per_cluster: int = 60, n_clusters: int = 3, n_genes: int = 300, seed: int = 0
) -> tuple[sp.csr_matrix, list[str]]:
    """Poisson counts of ``n_clusters`` groups; every group over-expresses its own genes.

    Gene 0 is a mitochondrial gene (``mt-Co1``); the rest are ``G1``, ``G2``, ….
    """
    rng = np.random.default_rng(seed)
    base = rng.gamma(0.3, 1.0, size=n_genes)
    rows = []
    for c in range(n_clusters):
        mean = base.copy()
        marker = slice(10 + 30 * c, 40 + 30 * c)
        mean[marker] *= 12
        rows.append(rng.poisson(mean, size=(n_per_cluster, n_genes)))
    counts = np.vstack(rows).astype(np.float64)
    counts[:, 0] = rng.poisson(2.0, size=counts.shape[0])
    genes = ["mt-Co1"] + [f"G{i}" for i in range(1, n_genes)]
    return sp.csr_matrix(counts), genes


@pytest.fixture(scope="session")
def make_counts():
    """Factory of small clustered Poisson matrices (see :func:`clustered_counts`)."""
    return clustered_counts


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

"""Differential expression and marker genes, beside scanpy's and illico's Wilcoxon.

    .venv/bin/python -m benchmarks.diffexp [--quick] [--sizes 50000,1000000] [--genes 2000]
                                           [--no-scanpy] [--no-illico]

For each size, one synthetic normalised matrix (cells × genes, CSC float32: per-gene
detection rates from 1 % to 60 %, about 15 % of entries nonzero, values = a small count
times one of 500 cell size factors, so ties are as common as in real data; 20 clusters,
each raising 50 genes) is generated cheaply, gene by gene, and used by every tool:

* *selection vs rest*: 10 % of the cells drawn at random against all the others;
* *cluster vs cluster*: cluster 0 against cluster 1;
* *markers*: every cluster against the rest (20 tests per gene).

Ours is :func:`bioblocks.analysis.diffexp.diffexp` / ``marker_genes`` on a matrix prepared
once by ``rank_matrix`` and ``RankedMatrix.rows()`` (its time and memory are their own
row: paid once per analysis, then every request reuses it); times are warm (numba
compiled by a first small run). scanpy
is ``scanpy.tl.rank_genes_groups(method="wilcoxon")`` (1.11, the ``bench`` extra);
illico is ``illico.asymptotic_wilcoxon`` (Rust kernels, one thread per core, warmed by
a first small run, logging and progress bars off). The ratio
is their seconds over ours. ``max rel p diff`` compares each tool's p-values with ours
over the genes whose p is at least 1e-12 (scanpy applies no continuity correction,
so it differs by design). Peak memory is the
largest resident set above the loaded matrix during our call (sampled every 10 ms).
scanpy is skipped for markers above 100,000 cells (it takes many minutes).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import format_bytes, machine_line, print_table, rss_bytes  # noqa: E402

N_CLUSTERS = 20
SCANPY_MARKERS_MAX_CELLS = 100_000


def make_matrix(n_cells: int, n_genes: int, *, seed: int = 0) -> tuple[sp.csc_matrix, np.ndarray]:
    """Return ``(matrix, clusters)``: a synthetic normalised CSC matrix and cluster codes."""
    rng = np.random.default_rng(seed)
    clusters = rng.integers(0, N_CLUSTERS, n_cells).astype(np.int32)
    scale = rng.choice(rng.uniform(0.5, 3.0, 500), n_cells).astype(np.float32)
    rates = np.exp(rng.uniform(np.log(0.01), np.log(0.6), n_genes))
    indptr = np.zeros(n_genes + 1, dtype=np.int64)
    columns_i, columns_v = [], []
    for j in range(n_genes):
        p = np.full(n_cells, rates[j])
        if j < N_CLUSTERS * 50:
            p[clusters == j // 50] = min(0.95, rates[j] * 3)
        cells = np.flatnonzero(rng.random(n_cells) < p).astype(np.int32)
        counts = 1 + rng.poisson(1.0, cells.size).astype(np.float32)
        columns_i.append(cells)
        columns_v.append(counts * scale[cells])
        indptr[j + 1] = indptr[j] + cells.size
    matrix = sp.csc_matrix(
        (np.concatenate(columns_v), np.concatenate(columns_i), indptr), shape=(n_cells, n_genes)
    )
    return matrix, clusters


def timed(fn: Callable[[], object]) -> tuple[object, float, int]:
    """Run ``fn``; return ``(result, seconds, peak RSS above the start in bytes)``."""
    base = rss_bytes()
    peak = [base]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.01):
            peak[0] = max(peak[0], rss_bytes())

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    start = time.perf_counter()
    try:
        result = fn()
    finally:
        seconds = time.perf_counter() - start
        stop.set()
        thread.join()
    return result, seconds, max(peak[0], rss_bytes()) - base


def _max_rel(p: np.ndarray, ref: np.ndarray) -> float:
    """Largest relative difference of ``p`` from ``ref`` over the genes with ``ref >= 1e-12``."""
    p, ref = np.asarray(p, float), np.asarray(ref, float)
    ok = ref >= 1e-12
    return float(np.max(np.abs(p[ok] - ref[ok]) / ref[ok])) if ok.any() else 0.0


def run_size(n_cells: int, n_genes: int, *, scanpy: bool, illico: bool) -> list[list[object]]:
    """Benchmark one size; return the table rows."""
    from bioblocks.analysis.diffexp import diffexp, marker_genes, rank_matrix

    t0 = time.perf_counter()
    matrix, clusters = make_matrix(n_cells, n_genes)
    print(f"{n_cells:,} cells × {n_genes:,} genes: {matrix.nnz:,} nonzeros "
          f"({format_bytes(matrix.data.nbytes + matrix.indices.nbytes)}), "
          f"generated in {time.perf_counter() - t0:.1f} s", flush=True)  # fmt: skip
    rng = np.random.default_rng(1)
    selection = np.zeros(n_cells, dtype=bool)
    selection[rng.choice(n_cells, n_cells // 10, replace=False)] = True
    size = f"{n_cells:,}"
    rows: list[list[object]] = []

    def prepare() -> object:
        ranked = rank_matrix(matrix)
        ranked.rows()  # the by-cell copy for one group against the rest
        return ranked

    ranked, prep_s, prep_mem = timed(prepare)
    rows.append([size, "prepare (once per analysis)", "ours", prep_s, None, None,
                 format_bytes(prep_mem)])  # fmt: skip
    cases = {
        "selection 10% vs rest": lambda: diffexp(ranked, selection),
        "cluster 0 vs cluster 1": lambda: diffexp(ranked, clusters == 0, clusters == 1),
        f"markers, {N_CLUSTERS} clusters vs rest": lambda: marker_genes(ranked, clusters),
    }
    adata = None
    if scanpy or illico:
        import anndata as ad
        import pandas as pd

        obs = pd.DataFrame({
            "sel": pd.Categorical(np.where(selection, "in", "out")),
            "cluster": pd.Categorical(clusters.astype(str)),
        }, index=[str(i) for i in range(n_cells)])  # fmt: skip
        var = pd.DataFrame(index=[f"G{j}" for j in range(n_genes)])
        adata = ad.AnnData(X=matrix.tocsr(), obs=obs, var=var)
    for case, ours in cases.items():
        result, ours_s, ours_mem = timed(ours)
        ours_p = (result["0"] if isinstance(result, dict) else result).pvalue  # type: ignore[union-attr]
        rows.append([size, case, "ours", ours_s, 1.0, None, format_bytes(ours_mem)])
        if illico and adata is not None:
            from illico import asymptotic_wilcoxon

            kwargs = {
                "selection 10% vs rest": {"group_keys": "sel", "groups": ["in"]},
                "cluster 0 vs cluster 1": {"group_keys": "cluster", "reference": "1",
                                           "groups": ["0"]},  # fmt: skip
            }.get(case, {"group_keys": "cluster"})
            frame, ill_s, ill_mem = timed(lambda kw=kwargs: asymptotic_wilcoxon(
                adata, is_log1p=False, n_threads=os.cpu_count() or 1, **kw))  # fmt: skip
            group = {"selection 10% vs rest": "in"}.get(case, "0")
            ill_p = frame.loc[group]["p_value"].to_numpy()  # type: ignore[union-attr]
            rows.append([size, case, "illico", ill_s, ill_s / ours_s, _max_rel(ill_p, ours_p),
                         format_bytes(ill_mem)])  # fmt: skip
        markers = case.startswith("markers")
        if scanpy and adata is not None and not (markers and n_cells > SCANPY_MARKERS_MAX_CELLS):
            import scanpy as sc

            kwargs = {
                "selection 10% vs rest": {"groupby": "sel", "groups": ["in"]},
                "cluster 0 vs cluster 1": {"groupby": "cluster", "groups": ["0"],
                                           "reference": "1"},  # fmt: skip
            }.get(case, {"groupby": "cluster"})
            _, sc_s, sc_mem = timed(lambda kw=kwargs: sc.tl.rank_genes_groups(
                adata, method="wilcoxon", **kw))  # fmt: skip
            group = {"selection 10% vs rest": "in"}.get(case, "0")
            table = sc.get.rank_genes_groups_df(adata, group=group)
            sc_p = table.set_index("names").loc[adata.var_names, "pvals"].to_numpy()
            rows.append([size, case, "scanpy", sc_s, sc_s / ours_s, _max_rel(sc_p, ours_p),
                         format_bytes(sc_mem)])  # fmt: skip
    return rows


def _warm_illico(matrix: sp.csc_matrix) -> None:
    """Silence illico's logging and progress bars; run it once on a small matrix."""
    os.environ.setdefault("TQDM_DISABLE", "1")
    import anndata as ad
    import pandas as pd
    from illico import asymptotic_wilcoxon
    from loguru import logger

    logger.disable("illico")
    labels = pd.Categorical(np.where(np.arange(matrix.shape[0]) < 50, "in", "out"))
    adata = ad.AnnData(X=matrix.tocsr(), obs=pd.DataFrame({"sel": labels},
                       index=[str(i) for i in range(matrix.shape[0])]))  # fmt: skip
    asymptotic_wilcoxon(adata, is_log1p=False, group_keys="sel", groups=["in"])
    asymptotic_wilcoxon(adata, is_log1p=False, group_keys="sel", reference="out", groups=["in"])


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print its table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="50000,1000000",
                        help="comma-separated cell counts (default 50000,1000000)")
    parser.add_argument("--genes", type=int, default=2000)
    parser.add_argument("--quick", action="store_true", help="20,000 cells × 500 genes")
    parser.add_argument("--no-scanpy", action="store_true")
    parser.add_argument("--no-illico", action="store_true")
    args = parser.parse_args(argv)
    sizes = [20_000] if args.quick else [int(s) for s in args.sizes.split(",") if s.strip()]
    genes = 500 if args.quick else args.genes
    print(machine_line(), flush=True)

    from bioblocks.analysis.diffexp import diffexp, rank_matrix

    warm, _ = make_matrix(500, 20)
    diffexp(rank_matrix(warm), np.arange(50))  # compile the numba kernels
    diffexp(rank_matrix(warm), np.arange(50), method="t-test")
    if not args.no_illico:
        _warm_illico(warm)
    rows: list[list[object]] = []
    for n_cells in sizes:
        rows += run_size(n_cells, genes, scanpy=not args.no_scanpy, illico=not args.no_illico)
    print_table(
        ["cells", "test (all genes)", "tool", "seconds", "× ours", "max rel p diff", "peak mem"],
        rows,
        title=f"Wilcoxon rank-sum over {genes:,} genes (warm; × ours = their seconds / ours)",
    )


if __name__ == "__main__":
    main()

"""Benchmark of the analyses, stage by stage, beside scanpy's standard pipeline.

For each dataset (the HPC data of issue 4 and synthetic datasets resampled from
it), two worker processes run one after the other on the same ``.h5ad`` input:

* **ours**: read, then :func:`bioblocks.analysis.run_spring` (normalise, genes,
  PCA, kNN, ForceAtlas2 layout, clusters, colour statistics, file writing), then
  :func:`~bioblocks.analysis.embeddings.run_tsne` and
  :func:`~bioblocks.analysis.embeddings.run_umap` on its PCA;
* **scanpy** (1.11, the ``bench`` extra): ``read_h5ad``, ``normalize_total`` +
  ``log1p``, ``highly_variable_genes``, ``pca`` (30 PCs), ``neighbors`` (same k as
  SPRING), ``draw_graph`` (ForceAtlas2 via ``fa2-modified``, same iterations),
  ``leiden``, ``write_h5ad``, ``tsne``, ``umap``.

Each worker first runs its whole pipeline on 600 cells so that numba compilation
(about 30 s for UMAP) stays out of the timed figures. Every stage reports seconds
and the peak resident memory of the worker during that stage (sampled every
20 ms). The ratio is scanpy's seconds over ours.

scanpy 1.11.5 with scipy 1.17 fails in ``sc.pp.neighbors`` from 8,192 cells
with ``AttributeError: 'csr_array' object has no attribute 'getnnz'``: from
8,192 cells scanpy uses pynndescent's ``PyNNDescentTransformer``, which returns
a scipy sparse *array*, and scanpy's ``_ind_dist_shortcut`` then calls
``getnnz(axis=1)``, which scipy 1.17 removed from sparse arrays (it remains on
the ``csr_matrix`` class). The scanpy worker therefore passes, from 8,192 cells,
its own transformer: ``PyNNDescentTransformer`` with scanpy's default settings
(``n_trees``, ``n_iters`` as umap-learn) whose output is converted to
``csr_matrix``; below 8,192 cells scanpy's default (exact, brute force) runs
unchanged. The project's scipy is not touched.

Usage::

    .venv/bin/python benchmarks/analysis.py --quick          # the HPC data only
    .venv/bin/python benchmarks/analysis.py --sizes hpc,50000
    .venv/bin/python benchmarks/analysis.py --sizes hpc,200000
    .venv/bin/python benchmarks/analysis.py --sizes 1000000 --no-scanpy
    .venv/bin/python benchmarks/analysis.py --sizes 1000000 --no-scanpy --spring-only
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import format_bytes, machine_line, print_table, rss_bytes  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
HPC_LIBRARIES = {"P9A": 900, "P11A": 700, "P11B": 800, "P12A": 800}
STAGES = [
    "load", "normalise", "genes", "pca", "knn", "layout", "clusters", "color_stats", "write",
    "tsne", "umap",
]
# run_spring's stage messages -> stage names.
SPRING_MESSAGES = {
    "filtering and normalising cells": "normalise",
    "selecting variable genes": "genes",
    "computing principal components": "pca",
    "building the kNN graph": "knn",
    "ForceAtlas2 layout": "layout",
    "clustering the kNN graph": "clusters",
    "computing colour statistics": "color_stats",
    "writing the SPRING files": "write",
}


# ---- measuring ---------------------------------------------------------------------------


class StageMeter:
    """Seconds and peak RSS of this process per named stage (a sampler thread)."""

    def __init__(self, dump: Path | None = None) -> None:
        self.results: dict[str, dict[str, float]] = {}
        self._dump = dump  # rewritten after every stage, so a run cut short leaves its stages
        self._name: str | None = None
        self._t0 = 0.0
        self._peak = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            rss = rss_bytes()
            with self._lock:
                self._peak = max(self._peak, rss)

    def start(self, name: str) -> None:
        self.stop()
        with self._lock:
            self._name, self._t0, self._peak = name, time.perf_counter(), rss_bytes()

    def stop(self) -> None:
        with self._lock:
            if self._name is not None:
                self._peak = max(self._peak, rss_bytes())
                old = self.results.get(self._name, {"seconds": 0.0, "peak": 0})
                self.results[self._name] = {
                    "seconds": old["seconds"] + time.perf_counter() - self._t0,
                    "peak": max(old["peak"], self._peak),
                }
                if self._dump is not None:
                    self._dump.write_text(json.dumps(self.results))
                self._name = None

    def close(self) -> None:
        self.stop()
        self._stop.set()
        self._thread.join()


# ---- inputs ------------------------------------------------------------------------------


def _read_hpc(hpc_dir: Path) -> tuple[sp.csr_matrix, list[str], np.ndarray]:
    """The four HPC libraries filtered as in issue 4 (min counts, mito <= 0.15), merged."""
    import pandas as pd

    blocks, labels, genes = [], [], None
    for name, min_total in HPC_LIBRARIES.items():
        with gzip.open(hpc_dir / f"{name}.counts.tsv.gz", "rt") as handle:
            frame = pd.read_csv(handle, sep="\t", index_col="barcode", dtype={"barcode": str})
        genes = list(frame.columns) if genes is None else genes
        counts = sp.csr_matrix(frame.to_numpy(dtype=np.float32))
        totals = np.asarray(counts.sum(axis=1)).ravel()
        mito = np.array([g.startswith("mt-") for g in genes])
        frac = np.asarray(counts[:, mito].sum(axis=1)).ravel() / np.maximum(totals, 1)
        keep = (totals >= min_total) & (frac <= 0.15)
        blocks.append(counts[keep])
        labels += [name] * int(keep.sum())
    assert genes is not None
    return sp.vstack(blocks).tocsr(), genes, np.array(labels)


def _write_h5ad(path: Path, counts: sp.csr_matrix, genes: list[str], library: np.ndarray) -> None:
    import anndata as ad
    import pandas as pd

    obs = pd.DataFrame({"library": pd.Categorical(library)},
                       index=[f"c{i}" for i in range(counts.shape[0])])
    var = pd.DataFrame(index=genes)
    ad.AnnData(X=counts, obs=obs, var=var).write_h5ad(path)


def _synthetic(
    counts: sp.csr_matrix, library: np.ndarray, n_cells: int, *, target_nnz: int = 900,
    seed: int = 0,
) -> tuple[sp.csr_matrix, np.ndarray]:
    """Resample ``n_cells`` HPC cells with Poisson noise, scaled to ~``target_nnz`` nonzeros."""
    rng = np.random.default_rng(seed)
    # Scale s so that a cell keeps target_nnz nonzeros on average: sum(1 - exp(-s c)).
    sample = counts[rng.choice(counts.shape[0], min(500, counts.shape[0]), replace=False)]
    lo, hi = 1e-3, 1e3
    for _ in range(60):
        s = np.sqrt(lo * hi)
        nnz = np.sum(1 - np.exp(-s * sample.data)) / sample.shape[0]
        lo, hi = (s, hi) if nnz < target_nnz else (lo, s)
    scale = np.sqrt(lo * hi)
    source = rng.integers(0, counts.shape[0], n_cells)
    # Filled block by block into arrays sized by an upper bound (a resampled row keeps at
    # most its source's nonzeros), so a million cells are held once while generated.
    row_nnz = np.diff(counts.indptr)[source]
    data = np.empty(int(row_nnz.sum()), dtype=np.float32)
    indices = np.empty(data.size, dtype=np.int32)
    indptr = np.zeros(n_cells + 1, dtype=np.int64)
    filled = 0
    for start in range(0, n_cells, 50_000):
        rows = counts[source[start : start + 50_000]]
        values = rng.poisson(rows.data * scale).astype(np.float32)
        block = sp.csr_matrix((values, rows.indices, rows.indptr), shape=rows.shape)
        block.eliminate_zeros()
        data[filled : filled + block.nnz] = block.data
        indices[filled : filled + block.nnz] = block.indices
        indptr[start + 1 : start + 1 + block.shape[0]] = filled + block.indptr[1:]
        filled += block.nnz
    matrix = sp.csr_matrix((data[:filled], indices[:filled], indptr),
                           shape=(n_cells, counts.shape[1]))
    return matrix, library[source]


def add_input_options(
    parser: argparse.ArgumentParser, *, quick: str, sizes: str, work_dir: str, work_help: str
) -> None:
    """Add the options naming the inputs of :func:`prepare_inputs`: ``--quick`` (help
    ``quick``), ``--sizes`` (default ``sizes``), ``--hpc-dir`` and ``--work-dir`` (default
    ``work_dir`` in the temporary directory)."""
    parser.add_argument("--quick", action="store_true", help=quick)
    parser.add_argument("--sizes", default=sizes,
                        help="comma separated: hpc and/or numbers of synthetic cells")
    parser.add_argument("--hpc-dir", type=Path, default=REPO.parent / "shared" / "data" / "hpc")
    parser.add_argument("--work-dir", type=Path, default=Path(tempfile.gettempdir()) / work_dir,
                        help=work_help)


def prepare_inputs(sizes: list[str], hpc_dir: Path, work_dir: Path) -> dict[str, Path]:
    """Write (once, cached in ``work_dir``) the ``.h5ad`` input of every dataset."""
    paths = {name: work_dir / f"{name}.h5ad" for name in sizes}
    if all(p.exists() for p in paths.values()):
        return paths
    hpc_path = work_dir / "hpc.h5ad"
    if not hpc_path.exists():
        counts, genes, library = _read_hpc(hpc_dir)
        _write_h5ad(hpc_path, counts, genes, library)
    import anndata as ad

    hpc = ad.read_h5ad(hpc_path)
    counts = sp.csr_matrix(hpc.X)
    for name, path in paths.items():
        if name == "hpc" or path.exists():
            continue
        syn, lib = _synthetic(counts, np.asarray(hpc.obs["library"]), int(name))
        _write_h5ad(path, syn, list(hpc.var_names), lib)
        print(f"  generated {name} cells: {syn.nnz / syn.shape[0]:.0f} nonzeros per cell",
              flush=True)
    return paths


# ---- workers -----------------------------------------------------------------------------


def _spring_params(n_cells: int, hpc: bool):  # noqa: ANN202 - SpringParams, imported lazily
    from bioblocks.analysis import SpringParams

    if hpc:  # the check: k = 4, 200 iterations, 30 PCs
        return SpringParams(gene_min_counts=3, gene_min_cells=3, gene_var_pctl=85,
                            n_prin_comps=30, n_neighbors=4, n_force_iter=200)
    return SpringParams()  # spec §9 defaults: k = 5, 500 iterations


def _run_ours(path: Path, out: Path, *, hpc: bool, meter: StageMeter | None,
              embeddings: bool = True) -> None:
    import anndata as ad

    from bioblocks.analysis import run_spring
    from bioblocks.analysis.embeddings import run_tsne, run_umap

    def stage(name: str) -> None:
        if meter is not None:
            meter.start(name)

    stage("load")
    adata = ad.read_h5ad(path)
    counts = sp.csr_matrix(adata.X)
    genes = list(adata.var_names)
    metadata = adata.obs[["library"]].reset_index(drop=True)
    del adata

    def progress(fraction: float, message: str) -> None:
        if message in SPRING_MESSAGES:
            stage(SPRING_MESSAGES[message])

    result = run_spring(counts, genes, out_dir=out / "spring", dataset_name="bench",
                        params=_spring_params(counts.shape[0], hpc), cell_metadata=metadata,
                        progress=progress, consume_counts=True)
    del counts
    if not embeddings:
        if meter is not None:
            meter.stop()
        return
    stage("tsne")
    run_tsne(result.epca, out_dir=out / "tsne")  # seed 0, the default
    stage("umap")
    run_umap(result.epca, out_dir=out / "umap")  # seed 0, the default
    if meter is not None:
        meter.stop()


def _neighbors_scanpy(adata, k: int) -> None:  # noqa: ANN001 - AnnData, imported lazily
    """``sc.pp.neighbors`` on 30 PCs (or ``X_pca``), working around scipy 1.17 (docstring)."""
    import scanpy as sc

    n_obs = adata.n_obs
    transformer = None
    if n_obs >= 8192:
        from pynndescent import PyNNDescentTransformer

        class CsrMatrixPyNNDescent(PyNNDescentTransformer):
            def fit_transform(self, X, y=None, **fit_params):  # noqa: ANN001, ANN201, N803
                return sp.csr_matrix(super().fit_transform(X, y, **fit_params))

        transformer = CsrMatrixPyNNDescent(
            n_neighbors=k, metric="euclidean", random_state=0, n_jobs=sc.settings.n_jobs,
            n_trees=min(64, 5 + round(n_obs**0.5 / 20.0)), n_iters=max(5, round(np.log2(n_obs))),
        )
    sc.pp.neighbors(adata, n_neighbors=k, n_pcs=30, use_rep="X_pca", transformer=transformer,
                    random_state=0)


def _run_scanpy(path: Path, out: Path, *, hpc: bool, meter: StageMeter | None,
                embeddings: bool = True) -> None:
    import scanpy as sc

    params = _spring_params(0, hpc)

    def stage(name: str) -> None:
        if meter is not None:
            meter.start(name)

    stage("load")
    adata = sc.read_h5ad(path)
    stage("normalise")
    sc.pp.normalize_total(adata)
    sc.pp.log1p(adata)
    stage("genes")
    sc.pp.highly_variable_genes(adata, n_top_genes=2000)
    stage("pca")
    sc.pp.pca(adata, n_comps=30, random_state=0)
    stage("knn")
    _neighbors_scanpy(adata, params.n_neighbors + 1)  # scanpy counts the cell itself
    stage("layout")
    sc.tl.draw_graph(adata, layout="fa", iterations=params.n_force_iter, random_state=0)
    stage("clusters")
    sc.tl.leiden(adata, flavor="igraph", n_iterations=2, random_state=0)
    stage("write")
    adata.write_h5ad(out / "scanpy.h5ad")
    if not embeddings:
        if meter is not None:
            meter.stop()
        return
    stage("tsne")
    sc.tl.tsne(adata, n_pcs=30, random_state=0, n_jobs=os.cpu_count())
    stage("umap")
    sc.tl.umap(adata, random_state=0)
    if meter is not None:
        meter.stop()


def worker(pipeline: str, path: Path, result_path: Path, *, hpc: bool, warm: Path,
           embeddings: bool = True) -> None:
    """Warm up on a small input, then run ``pipeline`` on ``path``; write the stage JSON."""
    import logging
    import warnings

    logging.disable(logging.WARNING)
    warnings.filterwarnings("ignore")
    run = _run_ours if pipeline == "ours" else _run_scanpy
    with tempfile.TemporaryDirectory(prefix="bench-warm-") as tmp:
        run(warm, Path(tmp), hpc=hpc, meter=None)
        # Large inputs take other compiled paths: approximate kNN (pynndescent) in
        # SPRING, UMAP and scanpy's neighbours. Compile them on 9,000 random points.
        points = np.random.default_rng(0).normal(size=(9000, 30))
        if pipeline == "ours":
            from bioblocks.analysis import knn_indices
            from bioblocks.analysis.embeddings import run_umap

            knn_indices(points, k=5, exact=False, seed=0)
            run_umap(points, out_dir=Path(tmp) / "umap-warm")
        else:
            import anndata as ad
            import scanpy as sc

            small = ad.AnnData(points.astype(np.float32))
            small.obsm["X_pca"] = small.X
            _neighbors_scanpy(small, 6)
            sc.tl.umap(small, random_state=0)
    meter = StageMeter(dump=result_path.with_suffix(".partial.json"))
    with tempfile.TemporaryDirectory(prefix=f"bench-{pipeline}-") as tmp:
        run(path, Path(tmp), hpc=hpc, meter=meter, embeddings=embeddings)
    meter.close()
    result_path.write_text(json.dumps(meter.results))


# ---- driver ------------------------------------------------------------------------------


def _run_worker(pipeline: str, path: Path, warm: Path, *, hpc: bool, work_dir: Path,
                timeout: float, embeddings: bool = True) -> dict[str, dict[str, float]] | str:
    result = work_dir / f"result-{pipeline}-{path.stem}.json"
    partial = result.with_suffix(".partial.json")
    result.unlink(missing_ok=True)
    partial.unlink(missing_ok=True)
    cmd = [sys.executable, __file__, "--worker", pipeline, "--input", str(path),
           "--result", str(result), "--warm", str(warm)] + (["--hpc"] if hpc else [])
    cmd += [] if embeddings else ["--spring-only"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        done = ", ".join(json.loads(partial.read_text())) if partial.exists() else "none"
        return f"timed out after {timeout:.0f} s (stages finished: {done}; in {partial})"
    if proc.returncode != 0 or not result.exists():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return "failed: " + " | ".join(tail)
    return json.loads(result.read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_input_options(parser, quick="the HPC data only (the small size)",
                      sizes="hpc,50000,200000,1000000", work_dir="bioblocks-bench",
                      work_help="where generated inputs are cached")
    parser.add_argument("--no-scanpy", action="store_true", help="skip the scanpy baseline")
    parser.add_argument("--timeout", type=float, default=7200, help="seconds per worker")
    parser.add_argument("--worker", choices=["ours", "scanpy"], help=argparse.SUPPRESS)
    parser.add_argument("--input", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--warm", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--hpc", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--spring-only", action="store_true",
                        help="skip t-SNE and UMAP (both pipelines): the SPRING stages only")
    args = parser.parse_args(argv)

    if args.worker:
        worker(args.worker, args.input, args.result, hpc=args.hpc, warm=args.warm,
               embeddings=not args.spring_only)
        return 0

    sizes = ["hpc"] if args.quick else [s.strip() for s in args.sizes.split(",")]
    args.work_dir.mkdir(parents=True, exist_ok=True)
    print(machine_line())
    print("numba/JIT warm-up: each worker first runs its whole pipeline on 600 cells; "
          "compile time is not in the figures below.", flush=True)
    paths = prepare_inputs(sorted(set(sizes) | {"600"}, key=lambda s: s != "hpc"),
                           args.hpc_dir, args.work_dir)
    warm = paths["600"]
    for name in sizes:
        hpc = name == "hpc"
        import anndata as ad

        shape = ad.read_h5ad(paths[name], backed="r").shape
        ours = _run_worker("ours", paths[name], warm, hpc=hpc, work_dir=args.work_dir,
                           timeout=args.timeout, embeddings=not args.spring_only)
        theirs = ({} if args.no_scanpy else
                  _run_worker("scanpy", paths[name], warm, hpc=hpc, work_dir=args.work_dir,
                              timeout=args.timeout, embeddings=not args.spring_only))
        rows = []
        for stage in STAGES:
            o = ours.get(stage) if isinstance(ours, dict) else None
            t = theirs.get(stage) if isinstance(theirs, dict) else None
            rows.append([
                stage,
                o["seconds"] if o else None, format_bytes(o["peak"]) if o else None,
                t["seconds"] if t else None, format_bytes(t["peak"]) if t else None,
                (t["seconds"] / o["seconds"]) if o and t and o["seconds"] > 0 else None,
            ])
        if isinstance(ours, dict) and isinstance(theirs, dict) and theirs:
            o_total = sum(v["seconds"] for v in ours.values())
            t_total = sum(v["seconds"] for v in theirs.values())
            rows.append(["total", o_total, format_bytes(max(v["peak"] for v in ours.values())),
                         t_total, format_bytes(max(v["peak"] for v in theirs.values())),
                         t_total / o_total])
        elif isinstance(ours, dict):
            rows.append(["total", sum(v["seconds"] for v in ours.values()),
                         format_bytes(max(v["peak"] for v in ours.values())), None, None, None])
        title = (f"\n{'HPC (issue 4 filter)' if hpc else 'synthetic'}: {shape[0]:,} cells x "
                 f"{shape[1]:,} genes"
                 + (" (k=4, 200 ForceAtlas2 iterations)" if hpc else " (k=5, 500 iterations)"))
        for label, res in (("ours", ours), ("scanpy", theirs)):
            if isinstance(res, str):
                title += f"\n  {label}: {res}"
        print_table(["stage", "ours s", "ours peak", "scanpy s", "scanpy peak",
                     "scanpy/ours"], rows, title=title)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Latency of one gene's expression at 1,000,000 cells, beside loading ``counts_norm.npz``.

    .venv/bin/python -m benchmarks.expression [--quick] [--cells 1000000] [--genes 2000]

What it does, all in one run: generates a normalised cells × genes matrix (about 20
nonzeros per cell, per-gene frequencies from a power law, gamma-distributed values)
and writes it both as ``counts_norm.npz`` (``scipy.sparse.save_npz``, CSC, as the
SPRING folder holds it) and as the analysis's expression store
(:class:`bioblocks.analysis.ExpressionStore`). Then, for 20 genes drawn at random:

* *baseline*: ``scipy.sparse.load_npz`` + ``[:, j].toarray()`` (what a server without
  the store does per request), and the column slice alone on an already loaded matrix;
* the store: ``ExpressionStore.open`` once, then ``values(gene)``;
* the endpoint: ``GET /analysis/{id}/expression?genes=G`` with
  ``Accept: application/octet-stream`` on the real application (TestClient).

Prints the median milliseconds per look-up and the ratio to the baseline.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from benchmarks._common import format_bytes, machine_line, print_table

DATASET = "11111111-2222-3333-4444-555555555555"
ANALYSIS = "aaaaaaaa-0000-0000-0000-000000000001"


def make_matrix(n_cells: int, n_genes: int, *, per_cell: int = 20, seed: int = 0) -> sp.csc_matrix:
    """Return a random normalised matrix (cells × genes, CSC, float32)."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, n_genes + 1) ** 0.8
    weights /= weights.sum()
    rows = np.repeat(np.arange(n_cells, dtype=np.int32), per_cell)
    cols = rng.choice(n_genes, size=rows.size, p=weights).astype(np.int32)
    data = rng.gamma(2.0, 1.5, size=rows.size).astype(np.float32)
    matrix = sp.coo_matrix((data, (rows, cols)), shape=(n_cells, n_genes)).tocsc()
    matrix.sum_duplicates()
    return matrix


def median_ms(fn: Callable[[str], object], genes: list[str]) -> float:
    """Median wall time of ``fn(gene)`` over ``genes``, in milliseconds."""
    times = []
    for gene in genes:
        start = time.perf_counter()
        fn(gene)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=1_000_000)
    parser.add_argument("--genes", type=int, default=2000)
    parser.add_argument("--quick", action="store_true", help="100,000 cells")
    args = parser.parse_args()
    n_cells = 100_000 if args.quick else args.cells

    from fastapi.testclient import TestClient

    from bioblocks.analysis import ExpressionStore
    from bioblocks.api.app import create_app
    from bioblocks.config import Settings
    from bioblocks.storage import analysis_dir

    print(machine_line())
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp) / "files")
        folder = analysis_dir(settings.resolved_data_dir, DATASET, ANALYSIS)
        folder.mkdir(parents=True)
        matrix = make_matrix(n_cells, args.genes)
        names = [f"Gene{j}" for j in range(args.genes)]
        npz = folder / "counts_norm.npz"
        sp.save_npz(npz, matrix)
        ExpressionStore.write(folder, matrix, names)
        rng = np.random.default_rng(1)
        sample = [names[j] for j in rng.choice(args.genes, size=20, replace=False)]
        index = {name: j for j, name in enumerate(names)}
        print(
            f"matrix: {n_cells:,} cells × {args.genes:,} genes, {matrix.nnz:,} nonzeros; "
            f"counts_norm.npz {format_bytes(npz.stat().st_size)}"
        )

        def baseline(gene: str) -> np.ndarray:
            return sp.load_npz(npz)[:, index[gene]].toarray().ravel()

        loaded = sp.load_npz(npz).tocsc()

        def slice_only(gene: str) -> np.ndarray:
            return loaded[:, index[gene]].toarray().ravel()

        start = time.perf_counter()
        store = ExpressionStore.open(folder)
        open_ms = (time.perf_counter() - start) * 1000

        app = create_app(settings)
        app.state.store.insert("dataset", {"_id": DATASET, "name": "benchmark"})
        app.state.store.insert(
            "analysis",
            {"_id": ANALYSIS, "name": "benchmark", "processType": "SPRING", "dataset": DATASET},
        )
        with TestClient(app) as client:

            def endpoint(gene: str) -> bytes:
                response = client.get(
                    f"/analysis/{ANALYSIS}/expression?genes={gene}",
                    headers={"Accept": "application/octet-stream"},
                )
                response.raise_for_status()
                return response.content

            endpoint(sample[0])  # opens and caches the store
            for gene in sample[:3]:  # same answers as the baseline
                np.testing.assert_array_equal(
                    np.frombuffer(endpoint(gene), dtype="<f4"), slice_only(gene)
                )
            base_ms = median_ms(baseline, sample)
            rows = [
                ["load_npz + column slice (baseline)", base_ms, 1.0],
                ["column slice of a loaded matrix", median_ms(slice_only, sample), None],
                ["ExpressionStore.values", median_ms(store.values, sample), None],
                ["GET /analysis/{id}/expression (float32)", median_ms(endpoint, sample), None],
            ]
    for row in rows[1:]:
        row[2] = base_ms / row[1]
    print_table(
        ["one gene, all cells", "median ms", "speed-up vs baseline"],
        rows,
        title=f"Expression look-up at {n_cells:,} cells (ExpressionStore.open: {open_ms:.1f} ms)",
    )


if __name__ == "__main__":
    main()

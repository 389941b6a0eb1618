"""Matrix import speed and memory, beside scipy, fast_matrix_market and pandas on the same files.

    .venv/bin/python -m benchmarks.ingest [--quick] [--workdir DIR] [--keep]

What it does, all in one run:

1. Generates a synthetic Matrix Market file laid out like 10x/HCA output
   (genes × cells, ``coordinate integer general``, entries grouped by cell,
   ``features.tsv``/``barcodes.tsv`` beside it): 200,000 cells × 28,205 genes
   with 400–800 nonzeros per cell (~120 M entries, ~1.5 GB of text).
   ``--quick``: 5,000 cells.
2. Generates a dense gzipped TSV in the HPC layout (header of gene names, one
   row per cell, ``barcode`` first): 5,000 cells × 28,205 genes with the same
   sparsity — smaller than the Matrix Market file because ``pandas.read_csv``
   on 28,205 columns is slow (about 2 minutes for it here). ``--quick``: 300 cells.
3. Runs each measurement in its own child process and reports the seconds
   measured inside the child (after imports), input MB/s, and the peak resident
   memory of the child sampled from outside:

   * ``import_matrix`` (ours): parse, validate, group by cell and write the
     canonical ``matrix.h5ad`` — the whole import;
   * ``fast_matrix_market.mmread`` and ``scipy.io.mmread``: bare parses to COO;
   * ``pandas.read_csv(sep="\\t", index_col=0)`` (C engine) on the dense file.

   The ratio column compares ours with the baseline of the same file (time
   ours/baseline for Matrix Market, speed-up for dense text); ``peak/CSR`` is
   the peak memory over the final CSR matrix's size (int32 data + int32
   indices + indptr).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchmarks._common import PeakMemorySampler, format_bytes, machine_line, print_table

N_GENES = 28205


def generate_mtx(folder: Path, *, n_cells: int, seed: int = 0) -> tuple[Path, int]:
    """Write ``matrix.mtx`` (genes × cells), ``features.tsv``, ``barcodes.tsv``; return (path, nnz)."""
    import fast_matrix_market as fmm
    import numpy as np
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    per_cell = rng.integers(400, 801, size=n_cells)
    nnz = int(per_cell.sum())
    cols = np.repeat(np.arange(n_cells, dtype=np.int32), per_cell)
    rows = np.empty(nnz, dtype=np.int32)
    offsets = np.concatenate([[0], np.cumsum(per_cell)])
    for start in range(0, n_cells, 5000):
        stop = min(start + 5000, n_cells)
        lo, hi = offsets[start], offsets[stop]
        genes = rng.integers(0, N_GENES, size=hi - lo, dtype=np.int32)
        # genes sorted within each cell, as CellRanger writes them
        rows[lo:hi] = genes[np.lexsort((genes, cols[lo:hi]))]
    data = rng.geometric(0.45, size=nnz).astype(np.int64)
    coo = sp.coo_matrix((data, (rows, cols)), shape=(N_GENES, n_cells))
    path = folder / "matrix.mtx"
    fmm.mmwrite(path, coo, field="integer", comment="synthetic benchmark matrix")
    (folder / "features.tsv").write_text(
        "".join(f"ENSG{k:011d}\tGene{k}\tGene Expression\n" for k in range(N_GENES))
    )
    (folder / "barcodes.tsv").write_text("".join(f"BC{k:07d}-1\n" for k in range(n_cells)))
    return path, nnz


def generate_dense(path: Path, *, n_cells: int, seed: int = 1) -> int:
    """Write a dense gzipped TSV (cells × genes, HPC layout); return its nonzero count.

    Values are single digits (counts capped at 9) so the text can be built with
    numpy byte arithmetic; the layout and sparsity are those of the HPC files.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    nnz = 0
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1) as fh:
        fh.write(("barcode\t" + "\t".join(f"Gene{k}" for k in range(N_GENES)) + "\n").encode())
        for start in range(0, n_cells, 500):
            n = min(500, n_cells - start)
            block = np.zeros((n, N_GENES), dtype=np.uint8)
            for i in range(n):
                genes = rng.integers(0, N_GENES, size=int(rng.integers(400, 801)))
                block[i, genes] = np.minimum(rng.geometric(0.45, size=genes.size), 9)
            nnz += int(np.count_nonzero(block))
            text = np.empty((n, 2 * N_GENES), dtype=np.uint8)
            text[:, 0::2] = ord("\t")
            text[:, 1::2] = block + ord("0")
            names = np.frombuffer(
                "".join(f"bc{start + i:06d}" for i in range(n)).encode(), dtype=np.uint8
            ).reshape(n, 8)
            newline = np.full((n, 1), ord("\n"), dtype=np.uint8)
            fh.write(np.hstack([names, text, newline]).tobytes())
    return nnz


# ---- child-process tasks ------------------------------------------------------------------


def _task(kind: str, source: str, out: str) -> float:
    """Run one measurement in this (child) process; return its seconds."""
    if kind == "ours":
        import anndata  # noqa: F401 - imported before the clock starts, like the baselines

        from bioblocks.ingest import ImportLimits, import_matrix

        start = time.perf_counter()
        import_matrix([Path(source)], Path(out), limits=ImportLimits())
        return time.perf_counter() - start
    if kind == "fmm":
        import fast_matrix_market as fmm

        start = time.perf_counter()
        fmm.mmread(source)
        return time.perf_counter() - start
    if kind == "scipy":
        import scipy.io

        start = time.perf_counter()
        scipy.io.mmread(source)
        return time.perf_counter() - start
    if kind == "pandas":
        import pandas as pd

        start = time.perf_counter()
        pd.read_csv(source, sep="\t", index_col=0)
        return time.perf_counter() - start
    raise ValueError(kind)


def measure(kind: str, source: Path, out: Path) -> tuple[float, int]:
    """Run ``kind`` in a child process; return (seconds inside the child, peak RSS bytes)."""
    cmd = [sys.executable, "-m", "benchmarks.ingest", "--child", kind, str(source), str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    with PeakMemorySampler(proc.pid, interval=0.02) as mem:
        stdout, _ = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"{kind} failed with exit code {proc.returncode}")
    return json.loads(stdout.strip().splitlines()[-1])["seconds"], mem.peak_bytes


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (seconds, not minutes)")
    parser.add_argument("--workdir", type=Path, default=None, help="where to write the files")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--mtx-cells", type=int, default=None)
    parser.add_argument("--dense-cells", type=int, default=None)
    parser.add_argument(
        "--child", nargs=3, metavar=("KIND", "SOURCE", "OUT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.child:
        seconds = _task(*args.child)
        print(json.dumps({"seconds": seconds}), flush=True)
        return

    mtx_cells = args.mtx_cells or (5_000 if args.quick else 200_000)
    dense_cells = args.dense_cells or (300 if args.quick else 5_000)
    work = Path(tempfile.mkdtemp(prefix="bioblocks-bench-", dir=args.workdir))
    print(machine_line(), flush=True)
    try:
        t0 = time.perf_counter()
        mtx, mtx_nnz = generate_mtx(work / "mtx", n_cells=mtx_cells)
        dense = work / "dense.counts.tsv.gz"
        dense_nnz = generate_dense(dense, n_cells=dense_cells)
        with gzip.open(dense, "rb") as fh:
            dense_text = sum(len(chunk) for chunk in iter(lambda: fh.read(1 << 24), b""))
        print(
            f"generated in {time.perf_counter() - t0:.0f} s: {mtx.name} {mtx_cells:,} cells × "
            f"{N_GENES:,} genes, {mtx_nnz:,} entries, {format_bytes(mtx.stat().st_size)}; "
            f"{dense.name} {dense_cells:,} cells, {dense_nnz:,} nonzeros, "
            f"{format_bytes(dense.stat().st_size)} gzipped, {format_bytes(dense_text)} of text",
            flush=True,
        )
        rows = []
        mtx_mb = mtx.stat().st_size / 1e6
        csr_mtx = mtx_nnz * 8 + (mtx_cells + 1) * 4
        csr_dense = dense_nnz * 8 + (dense_cells + 1) * 4
        results = {}
        for kind, source, text_mb, csr in (
            ("ours", mtx.parent, mtx_mb, csr_mtx),
            ("fmm", mtx, mtx_mb, csr_mtx),
            ("scipy", mtx, mtx_mb, csr_mtx),
            ("ours", dense, dense_text / 1e6, csr_dense),
            ("pandas", dense, dense_text / 1e6, csr_dense),
        ):
            out = work / f"out-{kind}-{source.name}"
            seconds, peak = measure(kind, source, out)
            shutil.rmtree(out, ignore_errors=True)
            results[(kind, source.name)] = seconds
            rows.append(
                [kind, source.name, seconds, text_mb / seconds, format_bytes(peak), peak / csr]
            )
        fmm_s = results[("fmm", mtx.name)]
        scipy_s = results[("scipy", mtx.name)]
        ours_mtx = results[("ours", mtx.parent.name)]
        ours_dense = results[("ours", dense.name)]
        pandas_s = results[("pandas", dense.name)]
        names = {
            "ours": "import_matrix (whole import)",
            "fmm": "fast_matrix_market.mmread",
            "scipy": "scipy.io.mmread",
            "pandas": "pandas.read_csv",
        }
        ratios = [
            f"{ours_mtx / fmm_s:.2f}× fmm, {ours_mtx / scipy_s:.2f}× scipy",
            "baseline",
            "baseline",
            f"{pandas_s / ours_dense:.1f}× faster than pandas",
            "baseline",
        ]
        table = [
            [names[r[0]], r[1], r[2], r[3], r[4], r[5], ratio]
            for r, ratio in zip(rows, ratios, strict=True)
        ]
        print_table(
            ["what", "input", "seconds", "MB/s", "peak RSS", "peak/CSR", "ratio"],
            table,
            title=f"matrix import ({'quick' if args.quick else 'full'} sizes)",
        )
    finally:
        if args.keep:
            print(f"files kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    threading.stack_size(0)
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()

"""Benchmark of the AnnData export beside the analysis it exports: seconds and peak memory.

For each dataset (the HPC data of issue 4, and synthetic datasets resampled from it by
:mod:`benchmarks.analysis`), four worker processes run one after the other on a fresh
data folder:

* **import**: ``import_dataset`` of the ``.h5ad`` input (not timed here);
* **analysis**: ``run_analysis`` SPRING (HPC: the issue's parameters; otherwise spec §9's
  defaults), and with ``--embeddings`` t-SNE and UMAP of it;
* **h5ad** and **zarr**: :func:`bioblocks.pipeline.export.export_analysis` of the SPRING
  analysis (its cells, counts, normalised values, embeddings, tracks) in each format.

Each worker's peak resident memory (itself and its children, sampled every 50 ms) is
reported; the export's peak beside the analysis's own shows that the export streams
(it holds one block of :data:`~bioblocks.pipeline.export.BLOCK_ROWS` cells, never a
second copy of the matrix). The last column is the h5ad export's peak over the analysis's.

Usage::

    .venv/bin/python benchmarks/export.py --quick                 # the HPC data only
    .venv/bin/python benchmarks/export.py --sizes hpc,100000
    .venv/bin/python benchmarks/export.py --sizes 1000000         # the million-cell run
                                  # (needs ~60 GB of disk in --work-dir: input, analysis, export)
    .venv/bin/python benchmarks/export.py --sizes 1000000 --force-iter 20   # its layout shortened
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import (  # noqa: E402
    format_bytes,
    machine_line,
    print_table,
    run_with_peak_memory,
)
from benchmarks.analysis import add_input_options, prepare_inputs  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
#: The issue's SPRING parameters of the HPC data; other sizes use spec §9's defaults.
HPC_PARAMS = {"gene_min_counts": 3, "gene_min_cells": 3, "gene_var_pctl": 85,
              "n_prin_comps": 30, "n_neighbors": 4, "n_force_iter": 200}


def _settings(data_dir: Path):  # noqa: ANN202 - Settings, imported lazily
    from bioblocks.config import Settings

    return Settings(data_dir=data_dir, job_workers=1, log_level="WARNING")


def worker(step: str, data_dir: Path, *, source: Path | None, fmt: str, hpc: bool,
           embeddings: bool, force_iter: int | None = None) -> None:
    """Run one step in this process; the ids go to ``<data_dir>/bench.json``."""
    from bioblocks.jobs import install_kinds
    from bioblocks.pipeline.export import export_analysis
    from bioblocks.pipeline.kinds import register_kinds
    from bioblocks.pipeline.operations import import_dataset, run_analysis
    from bioblocks.store import open_store

    install_kinds(register_kinds)
    settings = _settings(data_dir)
    store = open_store(settings)
    state_path = data_dir / "bench.json"
    try:
        if step == "import":
            assert source is not None
            doc = import_dataset(store, settings, [source], name="bench", species="mus_musculus")
            state_path.write_text(json.dumps({"dataset": doc["_id"],
                                              "cells": doc["matrixInfo"]["cells"],
                                              "nonzeros": doc["matrixInfo"]["nonzeros"]}))
            return
        state = json.loads(state_path.read_text())
        if step == "analysis":
            params = dict(HPC_PARAMS) if hpc else {}
            if force_iter is not None:
                params["n_force_iter"] = force_iter
            spring = run_analysis(store, settings, state["dataset"], process="SPRING",
                                  params=params or None)
            state["spring"] = spring["_id"]
            if embeddings:
                for process in ("TSNE", "UMAP"):
                    run_analysis(store, settings, state["dataset"], process=process,
                                 params={"springAnalysis": spring["_id"]})
            state_path.write_text(json.dumps(state))
            return
        out = data_dir / f"export.{fmt}"
        summary = export_analysis(store, settings, state["spring"], out, format=fmt)
        state[fmt] = {"bytes": out.stat().st_size, "obsm": summary.embeddings}
        out.unlink()  # a million cells' export is ~14 GB: not kept beside the next one
        state_path.write_text(json.dumps(state))
    finally:
        store.close()


def _run(step: str, data_dir: Path, *, source: Path, fmt: str = "h5ad", hpc: bool,
         embeddings: bool, timeout: float, force_iter: int | None) -> tuple[float, int]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", step, "--data-dir",
           str(data_dir), "--input", str(source), "--format", fmt]
    cmd += ["--hpc"] if hpc else []
    cmd += ["--embeddings"] if embeddings else []
    cmd += [] if force_iter is None else ["--force-iter", str(force_iter)]
    code, seconds, peak = run_with_peak_memory(cmd, timeout=timeout)
    if code != 0:
        raise SystemExit(f"the {step} worker failed with exit code {code}")
    return seconds, peak


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_input_options(parser, quick="the HPC data only", sizes="hpc,100000,1000000",
                      work_dir="bioblocks-bench-analysis",
                      work_help="where the inputs are cached (shared with benchmarks/analysis.py)")
    parser.add_argument("--embeddings", action="store_true",
                        help="run t-SNE and UMAP too (their coordinates are exported)")
    parser.add_argument("--timeout", type=float, default=7200, help="seconds per worker")
    parser.add_argument("--force-iter", type=int, default=None,
                        help="SPRING's ForceAtlas2 iterations (default: the parameters above); "
                        "fewer shorten the analysis without changing what is exported")
    parser.add_argument("--worker", choices=["import", "analysis", "export"],
                        help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--input", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--format", default="h5ad", help=argparse.SUPPRESS)
    parser.add_argument("--hpc", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, args.data_dir, source=args.input, fmt=args.format, hpc=args.hpc,
               embeddings=args.embeddings, force_iter=args.force_iter)
        return 0

    sizes = ["hpc"] if args.quick else [s.strip() for s in args.sizes.split(",") if s.strip()]
    args.work_dir.mkdir(parents=True, exist_ok=True)
    inputs = prepare_inputs(sizes, args.hpc_dir, args.work_dir)
    print(machine_line())
    rows = []
    for name in sizes:
        data_dir = args.work_dir / f"export-{name}"
        shutil.rmtree(data_dir, ignore_errors=True)
        data_dir.mkdir(parents=True)
        common = {"source": inputs[name], "hpc": name == "hpc", "embeddings": args.embeddings,
                  "timeout": args.timeout, "force_iter": args.force_iter}
        try:
            _run("import", data_dir, **common)  # type: ignore[arg-type]
            analysis_s, analysis_peak = _run("analysis", data_dir, **common)  # type: ignore[arg-type]
            h5ad_s, h5ad_peak = _run("export", data_dir, fmt="h5ad", **common)  # type: ignore[arg-type]
            zarr_s, zarr_peak = _run("export", data_dir, fmt="zarr", **common)  # type: ignore[arg-type]
            state = json.loads((data_dir / "bench.json").read_text())
        finally:
            shutil.rmtree(data_dir, ignore_errors=True)
        rows.append([
            name, f"{state['cells']:,}", f"{state['nonzeros']:,}",
            f"{analysis_s:.1f}", format_bytes(analysis_peak),
            f"{h5ad_s:.1f}", format_bytes(h5ad_peak), format_bytes(state["h5ad"]["bytes"]),
            f"{zarr_s:.1f}", format_bytes(zarr_peak), format_bytes(state["zarr"]["bytes"]),
            f"{h5ad_peak / analysis_peak:.2f}",
        ])
    analysis = "SPRING + t-SNE + UMAP" if args.embeddings else "SPRING"
    print_table(
        ["dataset", "cells", "nonzeros", f"{analysis} s", "peak RSS", "h5ad s", "peak RSS",
         "h5ad size", "zarr s", "peak RSS", "zarr.zip size", "h5ad peak / analysis peak"],
        rows, title=f"AnnData export of a {analysis} analysis (each step its own process)",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

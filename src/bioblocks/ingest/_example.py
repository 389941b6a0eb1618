"""A synthetic example dataset (simulated, not measured) for demos and tests.

Model
-----
Cells lie on a branching differentiation trajectory: a progenitor segment
(pseudotime 0 → 1) splits at a branch point into two fates, "fate A" and
"fate B" (each pseudotime 0 → 1 along its branch), plus a small unrelated
population ("other"). Each of 2,000 genes has a baseline log-abundance drawn
from a normal distribution; about 400 genes follow gene programmes that rise
or fall smoothly along a segment (progenitor genes fade, fate genes rise on
their branch), 60 genes mark the "other" population, and 13 mitochondrial
genes (``mt-…``) carry a per-cell mitochondrial fraction. A cell's expected
counts are its abundance profile times its library size (log-normal, with the
second library sequenced 30 % deeper); counts are negative binomial
(gamma–Poisson, dispersion 2). Gene names are mouse-like (a few real marker
symbols, ``mt-`` genes, ``Gm`` numbers) but the data are invented.

The result is written as two HCA/10x-style library folders, ``lib1`` and
``lib2``, each with ``matrix.mtx.gz`` (genes × cells, integer counts),
``features.tsv.gz`` (id, name, ``Gene Expression``) and ``cells.tsv.gz``
(header ``cellkey``, ``true_cell_type``, ``pseudotime``: the simulation's
ground truth, kept as per-cell metadata).
"""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import fast_matrix_market as fmm
import numpy as np
import scipy.sparse as sp

N_GENES = 2000
MARKERS = [
    "Sox2", "Nes", "Pax6", "Hes5", "Mki67", "Top2a", "Dcx", "Tubb3", "Neurod1",
    "Stmn2", "Gfap", "Aqp4", "Olig2", "Pdgfra", "Mbp", "Plp1", "Actb", "Gapdh",
]  # fmt: skip
MITO = [
    "mt-Nd1", "mt-Nd2", "mt-Co1", "mt-Co2", "mt-Atp8", "mt-Atp6", "mt-Co3",
    "mt-Nd3", "mt-Nd4l", "mt-Nd4", "mt-Nd5", "mt-Nd6", "mt-Cytb",
]  # fmt: skip


def _gene_names() -> list[str]:
    n_gm = N_GENES - len(MARKERS) - len(MITO)
    return MARKERS + MITO + [f"Gm{10000 + 7 * k}" for k in range(n_gm)]


def _simulate(n_cells: int, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Return (cells × genes integer counts, per-cell ground truth)."""
    names = _gene_names()
    n_mark, n_mito = len(MARKERS), len(MITO)
    segment = rng.choice(4, size=n_cells, p=[0.35, 0.28, 0.28, 0.09])
    t = rng.uniform(0.0, 1.0, size=n_cells)
    base = rng.normal(-1.0, 1.2, size=N_GENES)
    base[n_mark : n_mark + n_mito] = rng.normal(2.5, 0.4, size=n_mito)
    log_profile = np.tile(base, (n_cells, 1))
    first = n_mark + n_mito
    programmes = {
        "progenitor": np.r_[0:6, first : first + 130],
        "fate_a": np.r_[6:10, first + 130 : first + 260],
        "fate_b": np.r_[10:16, first + 260 : first + 390],
        "other": np.arange(first + 390, first + 450),
    }
    gain = rng.uniform(1.5, 3.5, size=N_GENES)
    prog = programmes["progenitor"]
    # progenitor genes: high on the progenitor segment, fading along each fate
    fade = np.where(segment == 0, 1.0, np.where(segment == 3, 0.0, 1.0 - t))
    log_profile[:, prog] += fade[:, None] * gain[prog]
    for seg, key in ((1, "fate_a"), (2, "fate_b")):
        genes = programmes[key]
        rise = np.where(segment == seg, t, 0.0)
        log_profile[:, genes] += rise[:, None] * gain[genes]
    # a gentle gradient along the progenitor segment so it is a path, not a blob
    grad = programmes["progenitor"][len(prog) // 2 :]
    log_profile[:, grad] += np.where(segment == 0, t, 1.0)[:, None] * 1.0
    log_profile[:, programmes["other"]] += (segment == 3)[:, None] * gain[programmes["other"]]
    profile = np.exp(log_profile)
    mito = slice(n_mark, n_mark + n_mito)
    mito_frac = rng.beta(2.0, 30.0, size=n_cells)
    rest = profile.sum(axis=1) - profile[:, mito].sum(axis=1)
    profile[:, mito] *= (mito_frac * rest / (1 - mito_frac) / profile[:, mito].sum(axis=1))[:, None]
    profile /= profile.sum(axis=1, keepdims=True)
    library = (np.arange(n_cells) >= n_cells // 2).astype(int)
    size = rng.lognormal(np.log(2500.0), 0.35, size=n_cells) * np.where(library == 1, 1.3, 1.0)
    mean = profile * size[:, None]
    dispersion = 2.0
    lam = rng.gamma(dispersion, mean / dispersion)
    counts = rng.poisson(lam).astype(np.int32)
    label = np.array(["progenitor", "fate A", "fate B", "other"])[segment]
    pseudotime = np.where(segment == 0, t, np.where(segment == 3, np.nan, 1.0 + t))
    del names
    return counts, {"library": library, "cell_type": label, "pseudotime": pseudotime}


def _write_gz(path: Path, data: bytes) -> None:
    """Write gzip with a zero timestamp, so the files are byte-for-byte reproducible."""
    with (
        open(path, "wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0) as fh,
    ):
        fh.write(data)


def make_example_dataset(dest: Path, *, n_cells: int = 3000, seed: int = 0) -> Path:
    """Write the synthetic two-library example dataset under ``dest`` and return ``dest``.

    Writes ``dest/lib1`` and ``dest/lib2`` (see the module docstring for the
    model and files). Import both with
    ``import_matrix([dest / "lib1", dest / "lib2"], ...)``. Deterministic for a
    given ``n_cells`` and ``seed``.
    """
    if n_cells < 20:
        raise ValueError("n_cells must be at least 20")
    rng = np.random.default_rng(seed)
    counts, truth = _simulate(n_cells, rng)
    names = _gene_names()
    features = "".join(
        f"ENSMUSG{90000000000 + k:011d}\t{name}\tGene Expression\n" for k, name in enumerate(names)
    )
    dest = Path(dest)
    for lib in (0, 1):
        folder = dest / f"lib{lib + 1}"
        folder.mkdir(parents=True, exist_ok=True)
        rows = np.flatnonzero(truth["library"] == lib)
        genes_by_cells = sp.coo_matrix(counts[rows].T)
        buffer = io.BytesIO()
        fmm.mmwrite(buffer, genes_by_cells, comment="synthetic example dataset (simulated)")
        _write_gz(folder / "matrix.mtx.gz", buffer.getvalue())
        _write_gz(folder / "features.tsv.gz", features.encode())
        lines = ["cellkey\ttrue_cell_type\tpseudotime"]
        for i in rows.tolist():
            pt = truth["pseudotime"][i]
            lines.append(
                f"sim{lib + 1}-{i:05d}\t{truth['cell_type'][i]}\t{'' if np.isnan(pt) else f'{pt:.4f}'}"
            )
        _write_gz(folder / "cells.tsv.gz", ("\n".join(lines) + "\n").encode())
    return dest

"""A synthetic example dataset (simulated, not measured) for demos and tests.

Model
-----
Cells lie on a branching haematopoietic differentiation tree. A stem and
progenitor segment ("HSPC", pseudotime 0 → 1) splits at a branch point into six
lineages, each with its own pseudotime 0 → 1 along its branch (recorded as
1 → 2): "erythroid", "megakaryocyte" and "basophil/mast" (the MEP-like side:
they share an early programme), "neutrophil" and "monocyte" (the GMP-like side,
likewise), and "lymphoid". Cells are drawn with fixed fractions per segment
(``SEGMENT_FRACTIONS``) and a uniform position along it.

Each gene has a baseline log-abundance. The named marker genes
(``LINEAGE_MARKERS``) follow the textbook mouse markers of their lineage:

- HSPC: ``Cd34``, ``Kit``, ``Procr``, ``Hlf``, ``Meis1`` — high on the HSPC
  segment and fading along every branch;
- erythroid: ``Gata1``, ``Klf1``, ``Car1``, ``Car2``, ``Hba-a1``, ``Hbb-bs``;
- megakaryocyte: ``Pf4``, ``Itga2b``, ``Gp9``, ``Gp1bb``, ``Vwf``;
- neutrophil: ``Mpo``, ``Elane``, ``Prtn3``, ``Ctsg`` (early granule genes:
  a transient peak early on the branch), ``Ly6g``, ``Ltf``, ``Camp`` (late);
- monocyte: ``Csf1r``, ``Irf8``, ``Ly86``, ``Cx3cr1``, ``Ccr2``;
- basophil/mast: ``Prss34``, ``Mcpt8``, ``Cpa3``, ``Fcer1a``;
- lymphoid: ``Dntt``, ``Il7r``, ``Rag1``, ``Flt3``.

A lineage's markers are off elsewhere and rise along its branch (the early
neutrophil granule genes rise and fall again), with weak priming in late HSPCs
(multilineage priming). Anonymous ``Gm`` genes form programmes of the same
shapes (HSPC, the shared MEP-like and GMP-like programmes early on their
branches, one per lineage, and a gentle gradient along the HSPC segment, so it
is a path rather than a blob); the proliferation genes ``Mki67`` and ``Top2a``
(and a block of ``Gm`` genes) mark cycling cells, frequent among HSPCs and
early on the branches; ``Actb``, ``Gapdh`` and ``B2m`` are high everywhere;
13 mitochondrial genes (``mt-…``) carry a per-cell mitochondrial fraction
(beta(2, 30)). A cell's expected counts are its abundance profile times its
library size (log-normal around 2,500, the second library sequenced 30 % deeper);
counts are negative binomial (gamma–Poisson, dispersion 2). The gene names are
real mouse symbols or mouse-like ``Gm`` numbers, but **the data are invented**.

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
HSPC = "HSPC"
#: The six lineages branching from the HSPC segment, in the order of ``SEGMENT_FRACTIONS``.
LINEAGES = ("erythroid", "megakaryocyte", "basophil/mast", "neutrophil", "monocyte", "lymphoid")
#: Expected fraction of the cells on each segment: HSPC, then the lineages.
SEGMENT_FRACTIONS = (0.24, 0.18, 0.08, 0.07, 0.18, 0.15, 0.10)
#: The marker genes of the HSPC segment and of each lineage.
LINEAGE_MARKERS: dict[str, tuple[str, ...]] = {
    HSPC: ("Cd34", "Kit", "Procr", "Hlf", "Meis1"),
    "erythroid": ("Gata1", "Klf1", "Car1", "Car2", "Hba-a1", "Hbb-bs"),
    "megakaryocyte": ("Pf4", "Itga2b", "Gp9", "Gp1bb", "Vwf"),
    "basophil/mast": ("Prss34", "Mcpt8", "Cpa3", "Fcer1a"),
    "neutrophil": ("Mpo", "Elane", "Prtn3", "Ctsg", "Ly6g", "Ltf", "Camp"),
    "monocyte": ("Csf1r", "Irf8", "Ly86", "Cx3cr1", "Ccr2"),
    "lymphoid": ("Dntt", "Il7r", "Rag1", "Flt3"),
}
#: Markers that peak early on their branch and fall again (primary granule genes).
EARLY_MARKERS = frozenset({"Mpo", "Elane", "Prtn3", "Ctsg"})
#: Markers that come up late on their branch (secondary granule genes, Ly6g).
LATE_MARKERS = frozenset({"Ly6g", "Ltf", "Camp"})
#: The shared early programme each lineage's branch starts with (MEP-like, GMP-like, none).
_SIDE = {
    "erythroid": "mep", "megakaryocyte": "mep", "basophil/mast": "mep",
    "neutrophil": "gmp", "monocyte": "gmp", "lymphoid": None,
}  # fmt: skip
CYCLING = ("Mki67", "Top2a")
HOUSEKEEPING = ("Actb", "Gapdh", "B2m")
MITO = (
    "mt-Nd1", "mt-Nd2", "mt-Co1", "mt-Co2", "mt-Atp8", "mt-Atp6", "mt-Co3",
    "mt-Nd3", "mt-Nd4l", "mt-Nd4", "mt-Nd5", "mt-Nd6", "mt-Cytb",
)  # fmt: skip
#: Anonymous ``Gm`` genes per programme (the rest keep their baseline).
_ANONYMOUS = {HSPC: 120, "mep": 60, "gmp": 60, **dict.fromkeys(LINEAGES, 50), "cycling": 40}


def _named_genes() -> list[str]:
    markers = [gene for genes in LINEAGE_MARKERS.values() for gene in genes]
    return markers + list(CYCLING) + list(HOUSEKEEPING) + list(MITO)


def _gene_names() -> list[str]:
    named = _named_genes()
    return named + [f"Gm{10000 + 7 * k}" for k in range(N_GENES - len(named))]


def _bump(t: np.ndarray, centre: float, width: float) -> np.ndarray:
    """A smooth transient programme along a branch: 1 at ``centre``, ~0 far from it."""
    return np.exp(-(((t - centre) / width) ** 2))


def _simulate(n_cells: int, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Return (cells × genes integer counts, per-cell ground truth); see the module docstring."""
    names = _gene_names()
    index = {name: i for i, name in enumerate(names)}
    segment = rng.choice(len(SEGMENT_FRACTIONS), size=n_cells, p=SEGMENT_FRACTIONS)
    t = rng.uniform(0.0, 1.0, size=n_cells)
    on_hspc = segment == 0
    base = rng.normal(-1.0, 1.2, size=N_GENES)
    n_markers = sum(len(genes) for genes in LINEAGE_MARKERS.values())
    base[:n_markers] = rng.normal(-2.5, 0.5, size=n_markers)  # markers are off elsewhere
    base[[index[g] for g in HOUSEKEEPING]] = rng.normal(4.0, 0.3, size=len(HOUSEKEEPING))
    mito = np.array([index[g] for g in MITO])
    base[mito] = rng.normal(2.5, 0.4, size=len(MITO))
    gain = rng.uniform(4.0, 6.0, size=N_GENES)
    gain[[index["Hba-a1"], index["Hbb-bs"]]] += 2.0  # haemoglobins dominate late erythroid cells
    gain[[index[g] for g in sorted(EARLY_MARKERS)]] += 1.5  # abundant, but only for a while
    log_profile = np.tile(base, (n_cells, 1))

    # anonymous programme genes, in blocks after the named genes
    start = len(_named_genes())
    anonymous: dict[str, np.ndarray] = {}
    for key, size in _ANONYMOUS.items():
        anonymous[key] = np.arange(start, start + size)
        start += size
    gain[len(_named_genes()) : start] = rng.uniform(1.5, 3.5, size=start - len(_named_genes()))

    # HSPC programme: high on the HSPC segment, fading along every branch
    fade = np.where(on_hspc, 1.0, 1.0 - t)
    hspc = np.r_[[index[g] for g in LINEAGE_MARKERS[HSPC]], anonymous[HSPC]]
    log_profile[:, hspc] += fade[:, None] * gain[hspc]
    grad = anonymous[HSPC][len(anonymous[HSPC]) // 2 :]  # a path along the HSPC segment
    log_profile[:, grad] += np.where(on_hspc, t, 1.0)[:, None]
    # shared early programmes of the MEP-like and GMP-like branches
    for side in ("mep", "gmp"):
        branches = [k + 1 for k, lineage in enumerate(LINEAGES) if _SIDE[lineage] == side]
        level = np.where(np.isin(segment, branches), _bump(t, 0.25, 0.3), 0.0)
        log_profile[:, anonymous[side]] += level[:, None] * gain[anonymous[side]]
    # each lineage: its markers and programme rise along its branch, primed in late HSPCs
    priming = np.where(on_hspc, 0.15 * t, 0.0)
    for k, lineage in enumerate(LINEAGES):
        branch = segment == k + 1
        for gene in LINEAGE_MARKERS[lineage]:
            shape = _bump(t, 0.35, 0.25) if gene in EARLY_MARKERS else t**2 if gene in LATE_MARKERS else t
            j = index[gene]
            log_profile[:, j] += (np.where(branch, shape, 0.0) + priming) * gain[j]
        genes = anonymous[lineage]
        log_profile[:, genes] += np.where(branch, t, 0.0)[:, None] * gain[genes]
    # cycling cells: many HSPCs and early branch cells, few late ones
    p_cycle = np.where(on_hspc, 0.45, 0.05 + 0.4 * (1.0 - t))
    cycling = rng.uniform(size=n_cells) < p_cycle
    proliferation = np.r_[[index[g] for g in CYCLING], anonymous["cycling"]]
    log_profile[:, proliferation] += cycling[:, None] * 0.6 * gain[proliferation]

    profile = np.exp(log_profile)
    mito_frac = rng.beta(2.0, 30.0, size=n_cells)
    rest = profile.sum(axis=1) - profile[:, mito].sum(axis=1)
    profile[:, mito] *= (mito_frac * rest / (1 - mito_frac) / profile[:, mito].sum(axis=1))[:, None]
    profile /= profile.sum(axis=1, keepdims=True)
    library = (np.arange(n_cells) >= n_cells // 2).astype(int)
    depth = rng.lognormal(np.log(2500.0), 0.35, size=n_cells) * np.where(library == 1, 1.3, 1.0)
    mean = profile * depth[:, None]
    dispersion = 2.0
    lam = rng.gamma(dispersion, mean / dispersion)
    counts = rng.poisson(lam).astype(np.int32)
    label = np.array((HSPC, *LINEAGES))[segment]
    pseudotime = np.where(on_hspc, t, 1.0 + t)
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
            pt = float(truth["pseudotime"][i])
            lines.append(f"sim{lib + 1}-{i:05d}\t{truth['cell_type'][i]}\t{pt:.4f}")
        _write_gz(folder / "cells.tsv.gz", ("\n".join(lines) + "\n").encode())
    return dest

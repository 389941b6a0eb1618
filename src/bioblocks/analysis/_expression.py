"""A column-compressed on-disk store of a normalised matrix, for per-gene look-ups.

Beside ``counts_norm.npz`` the analysis folder holds three raw ``.npy`` arrays of the
cells × genes CSC matrix (``expression_data.npy`` float32, ``expression_indices.npy``
int32 cell indices, ``expression_indptr.npy`` int64) and ``expression.json`` (cell count
and gene names). They are opened memory-mapped, so reading one gene touches only that
gene's slice: milliseconds even for a million cells.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from bioblocks.errors import NotFoundError

META_FILE = "expression.json"
DATA_FILE = "expression_data.npy"
INDICES_FILE = "expression_indices.npy"
INDPTR_FILE = "expression_indptr.npy"
FILES = (META_FILE, DATA_FILE, INDICES_FILE, INDPTR_FILE)


class ExpressionStore:
    """Read access to the normalised expression of an analysis, one gene at a time.

    Use :meth:`write` to create the files and :meth:`open` to read them.
    """

    def __init__(
        self,
        *,
        n_cells: int,
        gene_names: Sequence[str],
        data: np.ndarray,
        indices: np.ndarray,
        indptr: np.ndarray,
    ) -> None:
        self.n_cells = int(n_cells)
        self._genes = list(gene_names)
        self._lower = [g.lower() for g in self._genes]
        self._index = {g: i for i, g in enumerate(self._genes)}
        self._data = data
        self._indices = indices
        self._indptr = indptr

    @staticmethod
    def write(folder: Path, csc: sp.spmatrix, gene_names: Sequence[str]) -> None:
        """Write the store of ``csc`` (cells × genes) into ``folder``.

        Writes ``expression.json`` and the three ``expression_*.npy`` arrays.
        """
        matrix = sp.csc_matrix(csc)
        if matrix.shape[1] != len(gene_names):
            raise ValueError(f"{matrix.shape[1]} matrix columns but {len(gene_names)} gene names")
        matrix.sort_indices()
        folder = Path(folder)
        np.save(folder / DATA_FILE, matrix.data.astype(np.float32, copy=False))
        np.save(folder / INDICES_FILE, matrix.indices.astype(np.int32, copy=False))
        np.save(folder / INDPTR_FILE, matrix.indptr.astype(np.int64, copy=False))
        meta = {"n_cells": int(matrix.shape[0]), "genes": [str(g) for g in gene_names]}
        (folder / META_FILE).write_text(json.dumps(meta), encoding="utf-8")

    @classmethod
    def open(cls, folder: Path) -> ExpressionStore:
        """Open the store written in ``folder`` (arrays memory-mapped, read-only).

        Raises
        ------
        NotFoundError
            When the folder holds no expression store.
        """
        folder = Path(folder)
        if not (folder / META_FILE).is_file():
            raise NotFoundError(f"no normalised expression store in {folder.name}")
        meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
        return cls(
            n_cells=meta["n_cells"],
            gene_names=meta["genes"],
            data=np.load(folder / DATA_FILE, mmap_mode="r"),
            indices=np.load(folder / INDICES_FILE, mmap_mode="r"),
            indptr=np.load(folder / INDPTR_FILE, mmap_mode="r"),
        )

    @property
    def n_genes(self) -> int:
        """Number of genes in the store."""
        return len(self._genes)

    def genes(self, prefix: str | None = None, limit: int | None = None) -> list[str]:
        """Return the gene names, in matrix order, optionally only those starting with
        ``prefix`` (case-insensitive) and at most ``limit`` of them."""
        if prefix:
            p = prefix.lower()
            names = [
                g for g, low in zip(self._genes, self._lower, strict=True) if low.startswith(p)
            ]
        else:
            names = list(self._genes)
        return names if limit is None else names[: max(limit, 0)]

    def matrix(self) -> sp.csc_matrix:
        """Return the whole store as a cells × genes CSC matrix over its memory-mapped arrays
        (nothing is copied or read until used)."""
        return sp.csc_matrix(
            (self._data, self._indices, self._indptr), shape=(self.n_cells, self.n_genes)
        )

    def __contains__(self, gene: object) -> bool:
        return gene in self._index

    def values(self, gene: str) -> np.ndarray:
        """Return the normalised expression of ``gene`` in every cell (float32, dense).

        Raises
        ------
        NotFoundError
            When the gene is not in the store.
        """
        j = self._index.get(gene)
        if j is None:
            raise NotFoundError(f"gene {gene!r} is not in this analysis")
        start, stop = int(self._indptr[j]), int(self._indptr[j + 1])
        out = np.zeros(self.n_cells, dtype=np.float32)
        out[np.asarray(self._indices[start:stop])] = self._data[start:stop]
        return out

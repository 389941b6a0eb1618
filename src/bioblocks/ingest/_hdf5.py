"""HDF5 inputs: 10x Genomics ``.h5`` (v2 and v3), AnnData ``.h5ad`` and ``.loom``.

Read with h5py (anndata for ``.h5ad``'s data frames). Sizes are checked from
the HDF5 metadata before anything large is read.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..errors import IngestError
from ..progress import Progress, null_progress
from ._library import INT32_MAX, Library, finish_values
from ._streams import Budget

log = logging.getLogger(__name__)

_LOOM_BLOCK_BYTES = 64 * 1024**2


def hdf5_kind(path: Path) -> str | None:
    """Return ``'10x_h5'``, ``'h5ad'``, ``'loom'`` or None for an HDF5 file, from its content."""
    try:
        with h5py.File(path, "r") as f:
            if "matrix" in f and isinstance(f["matrix"], h5py.Dataset) and "row_attrs" in f:
                return "loom"
            if "X" in f and "obs" in f and "var" in f:
                return "h5ad"
            if "matrix" in f and isinstance(f["matrix"], h5py.Group) and "barcodes" in f["matrix"]:
                return "10x_h5"
            groups = [g for g in f.values() if isinstance(g, h5py.Group)]
            if groups and all("barcodes" in g and "indptr" in g for g in groups):
                return "10x_h5"
    except OSError:
        return None
    return None


def _strings(values: np.ndarray) -> np.ndarray:
    out = [v.decode("utf-8", errors="replace") if isinstance(v, bytes) else str(v) for v in values]
    return np.array(out, dtype=object)


def _check_csr_parts(
    data: np.ndarray, indices: np.ndarray, indptr: np.ndarray, n_cols: int, *, name: str
) -> None:
    if indptr.shape[0] == 0 or indptr[0] != 0 or indptr[-1] != data.shape[0]:
        raise IngestError("inconsistent sparse matrix (indptr does not match data)", field=name)
    if np.any(np.diff(indptr) < 0):
        raise IngestError("inconsistent sparse matrix (indptr decreases)", field=name)
    if indices.shape[0] != data.shape[0]:
        raise IngestError("inconsistent sparse matrix (indices and data differ)", field=name)
    if indices.size and (indices.min() < 0 or indices.max() >= n_cols):
        raise IngestError("sparse matrix index out of range", field=name)


def read_10x_h5(path: Path, *, budget: Budget, progress: Progress = null_progress) -> Library:
    """Read a 10x Genomics feature-barcode ``.h5`` (CellRanger v2 or v3+).

    Only ``Gene Expression`` features are kept when the file holds several
    feature types. Returns a :class:`Library`; raises :class:`IngestError`.
    """
    name = path.name
    try:
        with h5py.File(path, "r") as f:
            if "matrix" in f:
                g = f["matrix"]
                feats = g["features"]
                gene_ids = _strings(feats["id"][()])
                gene_names = _strings(feats["name"][()])
                types = _strings(feats["feature_type"][()]) if "feature_type" in feats else None
            else:
                groups = [k for k, v in f.items() if isinstance(v, h5py.Group)]
                if len(groups) != 1:
                    raise IngestError(
                        f"a 10x v2 file with {len(groups)} genomes; import one genome at a time",
                        field=name,
                    )
                g = f[groups[0]]
                gene_ids = _strings(g["genes"][()])
                gene_names = _strings(g["gene_names"][()])
                types = None
            n_genes, n_cells = (int(x) for x in g["shape"][()])
            if g["data"].shape[0] > budget.limits.max_nonzeros:
                raise IngestError("too many nonzero values", field=name)
            progress(0.1, f"reading {name}")
            data = g["data"][()]
            indices = g["indices"][()]
            indptr = g["indptr"][()]
            barcodes = _strings(g["barcodes"][()])
    except (OSError, KeyError) as exc:
        raise IngestError(f"not a readable 10x .h5 file ({exc})", field=name) from exc
    if len(gene_names) != n_genes or len(barcodes) != n_cells or indptr.shape[0] != n_cells + 1:
        raise IngestError("the 10x file's shape does not match its features/barcodes", field=name)
    _check_csr_parts(data, indices, indptr, n_genes, name=name)
    values, _ = finish_values(data, name=name)
    index_dtype = np.int32 if max(values.shape[0], n_genes) <= INT32_MAX else np.int64
    X = sp.csr_matrix(
        (values, indices.astype(index_dtype), indptr.astype(index_dtype)),
        shape=(n_cells, n_genes),
    )
    X.eliminate_zeros()
    X.sum_duplicates()
    if types is not None and len(set(types.tolist())) > 1:
        keep = np.flatnonzero(types == "Gene Expression")
        log.info("%s: keeping %d Gene Expression features of %d", name, len(keep), n_genes)
        X = X[:, keep].tocsr()
        gene_ids, gene_names = gene_ids[keep], gene_names[keep]
    return Library(
        X=X,
        gene_names=gene_names,
        gene_ids=gene_ids,
        barcodes=barcodes,
        obs=None,
        source_format="10x_h5",
        name=name,
    )


def read_h5ad(path: Path, *, budget: Budget, progress: Progress = null_progress) -> Library:
    """Read an AnnData ``.h5ad``: ``layers['counts']`` if present, else ``X``; ``obs`` kept.

    ``var['gene_ids']`` (or ``gene_id``) becomes the gene ids. Returns a
    :class:`Library`; raises :class:`IngestError`.
    """
    import anndata

    name = path.name
    try:
        with h5py.File(path, "r") as f:
            layer = "layers/counts" if "layers" in f and "counts" in f["layers"] else "X"
            node = f[layer]
            if isinstance(node, h5py.Dataset):
                size = int(np.prod(node.shape)) * node.dtype.itemsize
                if size > budget.limits.max_uncompressed_bytes:
                    raise IngestError("the dense matrix exceeds the uncompressed limit", field=name)
            elif node["data"].shape[0] > budget.limits.max_nonzeros:
                raise IngestError("too many nonzero values", field=name)
        progress(0.1, f"reading {name}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            adata = anndata.read_h5ad(path)
    except IngestError:
        raise
    except Exception as exc:  # noqa: BLE001 - anndata/h5py raise many kinds on bad files
        raise IngestError(f"not a readable .h5ad file ({exc})", field=name) from exc
    X = adata.layers["counts"] if layer != "X" else adata.X
    if X is None:
        raise IngestError("the .h5ad file holds no matrix (X is empty)", field=name)
    X = sp.csr_matrix(X)
    values, _ = finish_values(X.data, name=name)
    X = sp.csr_matrix((values, X.indices, X.indptr), shape=X.shape, copy=False)
    X.eliminate_zeros()
    X.sum_duplicates()
    var = adata.var
    id_col = next((c for c in ("gene_ids", "gene_id", "feature_id") if c in var.columns), None)
    obs = adata.obs.reset_index(drop=True)
    return Library(
        X=X,
        gene_names=np.asarray(adata.var_names.astype(str), dtype=object),
        gene_ids=None if id_col is None else var[id_col].astype(str).to_numpy(dtype=object),
        barcodes=np.asarray(adata.obs_names.astype(str), dtype=object),
        obs=obs if len(obs.columns) else None,
        source_format="h5ad",
        name=name,
    )


def read_loom(path: Path, *, budget: Budget, progress: Progress = null_progress) -> Library:
    """Read a ``.loom`` file (genes × cells ``/matrix``, ``row_attrs``, ``col_attrs``).

    Gene names from ``row_attrs/Gene``, ids from ``row_attrs/Accession``,
    barcodes from ``col_attrs/CellID``; other one-dimensional column attributes
    become per-cell metadata. Read in blocks of cells, converted to sparse per
    block. Returns a :class:`Library`; raises :class:`IngestError`.
    """
    name = path.name
    try:
        with h5py.File(path, "r") as f:
            matrix = f["matrix"]
            n_genes, n_cells = matrix.shape
            rows, cols = f["row_attrs"], f["col_attrs"]
            gene_key = next((k for k in ("Gene", "gene_names", "Symbol") if k in rows), None)
            if gene_key is None:
                raise IngestError("row_attrs has no 'Gene' names", field=name)
            gene_names = _strings(rows[gene_key][()])
            id_key = next((k for k in ("Accession", "gene_ids", "ensembl_ids") if k in rows), None)
            gene_ids = None if id_key is None else _strings(rows[id_key][()])
            cell_key = next((k for k in ("CellID", "obs_names", "cell_names") if k in cols), None)
            barcodes = None if cell_key is None else _strings(cols[cell_key][()])
            meta = {}
            for key, ds in cols.items():
                if key == cell_key or not isinstance(ds, h5py.Dataset) or ds.shape != (n_cells,):
                    continue
                values = ds[()]
                meta[key] = _strings(values) if values.dtype.kind in "OSU" else values
            block = max(1, _LOOM_BLOCK_BYTES // max(n_genes * matrix.dtype.itemsize, 1))
            parts = []
            for start in range(0, n_cells, block):
                dense = matrix[:, start : start + block]
                budget.spend(dense.nbytes, name=name)
                if dense.dtype.kind == "f" and not np.isfinite(dense).all():
                    raise IngestError("the matrix holds NaN or infinite values", field=name)
                parts.append(sp.csr_matrix(dense.T))
                progress(min((start + block) / n_cells, 1.0), f"read {start + block:,} cells")
    except (OSError, KeyError) as exc:
        raise IngestError(f"not a readable .loom file ({exc})", field=name) from exc
    if not parts:
        raise IngestError("the matrix is empty", field=name)
    X = sp.vstack(parts, format="csr")
    values, _ = finish_values(X.data, name=name)
    X = sp.csr_matrix((values, X.indices, X.indptr), shape=X.shape, copy=False)
    obs = pd.DataFrame(meta) if meta else None
    return Library(
        X=X,
        gene_names=gene_names,
        gene_ids=gene_ids,
        barcodes=barcodes,
        obs=obs,
        source_format="loom",
        name=name,
    )

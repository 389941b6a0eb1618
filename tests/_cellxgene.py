"""What ``cellxgene launch`` needs of an ``.h5ad``, as a check the tests run.

From cellxgene's documented data requirements (chanzuckerberg/cellxgene-documentation,
``desktop/data-reqs.md``): the matrix in ``X``; at least one embedding in ``obsm`` named
``X_<name>``; a unique cell id per cell (the ``obs`` index) and a unique gene id per gene
(the ``var`` index); scanpy-style colours ``uns["<category>_colors"]``, matplotlib
colours, one per category of a matching ``obs`` column. cellxgene reads ``obs`` columns
that are boolean, numeric, string or categorical, and draws embeddings of at least two
finite float dimensions per cell.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp


def cellxgene_problems(adata: object) -> list[str]:
    """Return every way ``adata`` (an AnnData) misses cellxgene's requirements; [] if none."""
    from matplotlib.colors import is_color_like

    problems: list[str] = []
    n_obs, n_vars = adata.shape  # type: ignore[attr-defined]
    X = adata.X  # type: ignore[attr-defined]
    if X is None:
        problems.append("X is missing")
    else:
        dtype = X.dtype
        if not (sp.issparse(X) or isinstance(X, np.ndarray)) or X.ndim != 2:
            problems.append(f"X is not a 2-D array or sparse matrix ({type(X).__name__})")
        elif dtype.kind not in "fiu":
            problems.append(f"X is not numeric ({dtype})")
        elif X.shape != (n_obs, n_vars):
            problems.append(f"X has shape {X.shape}, not {(n_obs, n_vars)}")
    embeddings = {k: v for k, v in adata.obsm.items() if k.startswith("X_")}  # type: ignore[attr-defined]
    if not embeddings:
        problems.append("no obsm embedding named X_*")
    for key, value in embeddings.items():
        array = np.asarray(value)
        if array.ndim != 2 or array.shape[0] != n_obs or array.shape[1] < 2:
            problems.append(f"obsm[{key!r}] has shape {array.shape}, not ({n_obs}, >=2)")
        elif array.dtype.kind != "f" or not np.isfinite(array).all():
            problems.append(f"obsm[{key!r}] is not finite floats ({array.dtype})")
    for name, index in (("obs", adata.obs.index), ("var", adata.var.index)):  # type: ignore[attr-defined]
        if not index.is_unique:
            problems.append(f"the {name} index is not unique")
    obs: pd.DataFrame = adata.obs  # type: ignore[attr-defined]
    for column in obs.columns:
        dtype = obs[column].dtype
        supported = (isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(dtype)
                     or pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_string_dtype(dtype))
        if not supported:
            problems.append(f"obs[{column!r}] has the unsupported dtype {dtype}")
    for key, colors in adata.uns.items():  # type: ignore[attr-defined]
        if not key.endswith("_colors"):
            continue
        category = key.removesuffix("_colors")
        if category not in obs.columns or not isinstance(obs[category].dtype, pd.CategoricalDtype):
            problems.append(f"uns[{key!r}] has no categorical obs column {category!r}")
            continue
        n_categories = len(obs[category].cat.categories)
        if len(colors) != n_categories:
            problems.append(f"uns[{key!r}] has {len(colors)} colours for {n_categories} categories")
        bad = [c for c in colors if not is_color_like(c)]
        if bad:
            problems.append(f"uns[{key!r}] holds colours matplotlib cannot read: {bad[:3]}")
    return problems

"""Reading parts of a canonical ``matrix.h5ad``: its tables alone, and rows in any order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from bioblocks.errors import IngestError
from bioblocks.ingest import _canonical, read_canonical, read_canonical_rows, read_canonical_tables
from bioblocks.ingest._canonical import write_canonical


@pytest.fixture
def canonical(tmp_path: Path) -> tuple[Path, sp.csr_matrix]:
    """A 500 x 40 canonical matrix of integer counts (some rows empty), with tables."""
    rng = np.random.default_rng(7)
    X = sp.random(500, 40, density=0.2, format="csr", random_state=rng,
                  data_rvs=lambda n: rng.integers(1, 50, n)).astype(np.int32)
    X = sp.csr_matrix(X.multiply(rng.random((500, 1)) > 0.1), dtype=np.int32)
    obs = pd.DataFrame({"library": ["a", "b"] * 250}, index=[f"c{i}" for i in range(500)])
    var = pd.DataFrame({"gene_ids": [f"ENS{i}" for i in range(40)]},
                       index=[f"g{i}" for i in range(40)])
    path = tmp_path / "matrix.h5ad"
    write_canonical(path, X, obs=obs, var=var, source_format="test")
    return path, X


def test_tables_are_those_of_the_whole_read(canonical: tuple[Path, sp.csr_matrix]) -> None:
    path, _ = canonical
    obs, var = read_canonical_tables(path)
    _, genes, barcodes, whole_obs = read_canonical(path)
    pd.testing.assert_frame_equal(obs, whole_obs)
    assert list(obs.index) == list(barcodes) and list(var.index) == list(genes)
    assert list(var["gene_ids"])[:2] == ["ENS0", "ENS1"]


@pytest.mark.parametrize("window", [7, 20_000])
def test_rows_in_any_order_with_repeats(
    canonical: tuple[Path, sp.csr_matrix], window: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, X = canonical
    monkeypatch.setattr(_canonical, "ROW_WINDOW", window)  # many spans, or one
    rows = np.array([499, 3, 3, 0, 250, 17, 499, 128])
    got = read_canonical_rows(path, rows)
    assert got.dtype == np.int32 and got.has_sorted_indices
    assert (got != X[rows]).nnz == 0
    sorted_rows = np.flatnonzero(np.random.default_rng(1).random(500) < 0.3)
    assert (read_canonical_rows(path, sorted_rows, dtype=np.float32) != X[sorted_rows]).nnz == 0
    assert read_canonical_rows(path, sorted_rows, dtype=np.float32).dtype == np.float32
    assert read_canonical_rows(path, np.array([], dtype=np.int64)).shape == (0, 40)


def test_rows_outside_the_matrix_are_refused(canonical: tuple[Path, sp.csr_matrix]) -> None:
    path, _ = canonical
    with pytest.raises(IngestError, match="has 500 cells; row 500 is outside it"):
        read_canonical_rows(path, np.array([1, 500]))
    with pytest.raises(IngestError, match="row -1"):
        read_canonical_rows(path, np.array([-1]))

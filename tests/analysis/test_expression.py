from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from bioblocks.analysis._expression import ExpressionStore
from bioblocks.errors import NotFoundError


def test_write_open_read(tmp_path: Path) -> None:
    dense = np.array([[0.0, 1.5, 0.0], [2.0, 0.0, 0.0], [0.0, 3.25, 0.0], [4.0, 0.0, 0.0]])
    ExpressionStore.write(tmp_path, sp.csc_matrix(dense), ["Actb", "Gapdh", "Actg1"])
    store = ExpressionStore.open(tmp_path)
    assert store.n_cells == 4 and store.n_genes == 3
    for j, gene in enumerate(["Actb", "Gapdh", "Actg1"]):
        values = store.values(gene)
        assert values.dtype == np.float32
        np.testing.assert_array_equal(values, dense[:, j].astype(np.float32))
    assert store.genes() == ["Actb", "Gapdh", "Actg1"]
    assert store.genes("act") == ["Actb", "Actg1"]
    assert store.genes("ACT", limit=1) == ["Actb"]
    assert "Gapdh" in store and "nope" not in store
    with pytest.raises(NotFoundError, match="nope"):
        store.values("nope")


def test_open_missing_store(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        ExpressionStore.open(tmp_path)

"""The per-library rules: orientation, unique names, value checks."""

from __future__ import annotations

import numpy as np
import pytest

from bioblocks.errors import IngestError
from bioblocks.ingest._library import csr_from_coo, finish_values, genes_are_rows, make_unique


def test_make_unique_follows_spring() -> None:
    names = np.array(["A", "B", "A", "C", "A", "B"], dtype=object)
    assert make_unique(names).tolist() == ["A__1", "B__1", "A__2", "C", "A__3", "B__2"]
    clash = np.array(["A", "A", "A__1"], dtype=object)
    out = make_unique(clash).tolist()
    assert len(set(out)) == 3 and out[2] == "A__1"


def test_orientation_rule() -> None:
    assert genes_are_rows((100, 3), 100, None, name="m") is True
    assert genes_are_rows((3, 100), 100, None, name="m") is False
    assert genes_are_rows((63925, 1), 63925, 1, name="m") is True
    assert genes_are_rows((1, 63925), 63925, 1, name="m") is False
    assert genes_are_rows((5, 5), 5, 5, name="m") is True
    with pytest.raises(IngestError, match="neither orientation"):
        genes_are_rows((4, 3), 5, None, name="m")


def test_finish_values_converts_integral_floats_in_place() -> None:
    data = np.array([1.0, 3.0, 0.0], dtype=np.float32)
    out, zeros = finish_values(data, name="m")
    assert out.dtype == np.int32 and out.tolist() == [1, 3, 0] and zeros == 1
    assert np.shares_memory(out, data)
    real, _ = finish_values(np.array([0.5, 2.0]), name="m")
    assert real.dtype == np.float32
    with pytest.raises(IngestError, match="negative"):
        finish_values(np.array([1, -1], dtype=np.int64), name="m")


def test_csr_from_coo_groups_sums_duplicates_and_drops_zeros() -> None:
    rows = np.array([2, 0, 1, 0, 2, 0], dtype=np.int32)  # genes
    cols = np.array([1, 0, 1, 2, 1, 0], dtype=np.int32)  # cells
    data = np.array([1, 4, 2, 5, 3, 0], dtype=np.float32)
    X = csr_from_coo(rows, cols, data, shape=(3, 3), transpose=True, name="m")
    np.testing.assert_array_equal(X.toarray(), [[4, 0, 0], [0, 2, 4], [5, 0, 0]])
    assert X.has_canonical_format and X.dtype == np.int32 and X.nnz == 4

"""The one structure check of sparse parts that every reader and the canonical writer use."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from bioblocks.errors import IngestError
from bioblocks.ingest._canonical import write_canonical
from bioblocks.ingest._checks import check_compressed, check_csr
from bioblocks.ingest._library import finish_values


def _parts() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    X = sp.csr_matrix(np.array([[1, 0, 2], [0, 0, 3], [4, 5, 0]], dtype=np.int32))
    return X.data.copy(), X.indices.copy(), X.indptr.copy()


@pytest.mark.parametrize(("change", "obj", "match"), [
    (lambda d, i, p: (d, np.where(i == 2, 3, i), p), "m/indices", r"index 3 is out of range \[0, 3\)"),
    (lambda d, i, p: (d, np.where(i == 2, -1, i), p), "m/indices", "index -1 is out of range"),
    (lambda d, i, p: (d, i, p[::-1].copy()), "m/indptr", "starts at 5"),
    (lambda d, i, p: (d, i, np.array([0, 3, 2, 5])), "m/indptr", "decreases"),
    (lambda d, i, p: (d, i, p[:-1]), "m/indptr", "3 entries; 4 expected"),
    (lambda d, i, p: (d, i, np.r_[p[:-1], 4]), "m/indptr", "ends at 4"),
    (lambda d, i, p: (d, i[:-1], p), "m/indices", "4 indices for 5 values"),
    (lambda d, i, p: (d, i.astype(np.float64), p), "m/indices", "not fractional"),
    (lambda d, i, p: (d, i, p.astype(np.float32)), "m/indptr", "not fractional"),
    (lambda d, i, p: (d.astype(np.complex128), i, p), "m/data", "complex"),
    (lambda d, i, p: (d.astype("U3"), i, p), "m/data", "strings"),
    (lambda d, i, p: (d.reshape(5, 1), i, p), "m/data", "one-dimensional"),
])
def test_check_compressed_refuses_corrupt_parts(change, obj: str, match: str) -> None:  # noqa: ANN001
    data, indices, indptr = change(*_parts())
    with pytest.raises(IngestError, match=match) as info:
        check_compressed(data, indices, indptr, n_major=3, n_minor=3, name="f.h5", obj="m")
    assert info.value.field == f"f.h5:{obj}"


def test_check_compressed_accepts_a_good_matrix_and_empty_rows() -> None:
    data, indices, indptr = _parts()
    check_compressed(data, indices, indptr, n_major=3, n_minor=3, name="f", obj="m")
    check_compressed(np.array([], np.float32), np.array([], np.int32), np.zeros(4, np.int64),
                     n_major=3, n_minor=0, name="f")


def test_finish_values_refuses_complex_instead_of_dropping_the_imaginary_part() -> None:
    with pytest.raises(IngestError, match="complex"):
        finish_values(np.array([1 + 0j, 2 + 1j]), name="m")


def test_the_canonical_writer_refuses_an_unchecked_matrix(tmp_path) -> None:  # noqa: ANN001
    import pandas as pd

    data, indices, indptr = _parts()
    X = sp.csr_matrix((data, indices, indptr), shape=(3, 3))
    X.indices[0] = 7  # corrupted after construction: scipy does not notice
    with pytest.raises(IngestError, match="out of range"):
        write_canonical(tmp_path / "matrix.h5ad", X, obs=pd.DataFrame(index=["a", "b", "c"]),
                        var=pd.DataFrame(index=["x", "y", "z"]), source_format="test")
    assert not (tmp_path / "matrix.h5ad").exists()
    with pytest.raises(IngestError):
        check_csr(X, name="m")

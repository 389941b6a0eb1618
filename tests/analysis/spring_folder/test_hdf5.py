"""The bulk HDF5 writer: files that libhdf5 (through h5py) reads, and modifies, like its own."""

from __future__ import annotations

import threading

import h5py
import numpy as np
import pytest

from bioblocks.analysis.spring_folder import write_grouped_datasets
from bioblocks.errors import Cancelled


def _sparse_rows(rng: np.random.Generator, n: int) -> np.ndarray:
    sizes = rng.integers(0, 12, n)
    sizes[rng.random(n) < 0.3] = 0  # many empty datasets, as genes expressed in no cell
    return np.concatenate([[0], np.cumsum(sizes)])


@pytest.mark.parametrize("n", [1, 7, 1_000, 28_205])
def test_every_dataset_reads_back(tmp_path, n):
    rng = np.random.default_rng(n)
    indptr = _sparse_rows(rng, n)
    values = rng.random(indptr[-1]).astype(np.float32)
    index = rng.integers(0, 2**31 - 1, indptr[-1]).astype(np.int32)
    # unicode, digits (sorted as text: "10" < "9") and mixed case
    names = [f"Gène{i}" if i % 3 else str(i) for i in range(n)]
    path = tmp_path / "x.hdf5"
    write_grouped_datasets(
        path,
        names=names,
        indptr=indptr,
        groups={"counts": values, "cell_ix": index},
        attrs={"ncells": 12_345, "ngenes": n},
    )
    with h5py.File(path, "r") as handle:
        assert dict(handle.attrs) == {"ncells": 12_345, "ngenes": n}
        assert sorted(handle) == ["cell_ix", "counts"]
        assert sorted(handle["counts"]) == sorted(names)
        assert len(handle["cell_ix"]) == n
        for i, name in enumerate(names):
            got_values = handle["counts"][name][()]
            got_index = handle["cell_ix"][name][()]
            assert got_values.dtype == np.float32 and got_index.dtype == np.int32
            np.testing.assert_array_equal(got_values, values[indptr[i] : indptr[i + 1]])
            np.testing.assert_array_equal(got_index, index[indptr[i] : indptr[i + 1]])


def test_many_names_take_a_wide_b_tree(tmp_path):
    """300,000 names need more than the default B-tree width; look-ups still find each."""
    n = 300_000
    indptr = np.arange(n + 1, dtype=np.int64)
    values = np.arange(n, dtype=np.int32)
    names = [str(i) for i in range(n)]
    path = tmp_path / "cells.hdf5"
    write_grouped_datasets(path, names=names, indptr=indptr, groups={"gene_ix": values}, attrs={})
    rng = np.random.default_rng(0)
    with h5py.File(path, "r") as handle:
        assert len(handle["gene_ix"]) == n
        for i in rng.integers(0, n, 500).tolist() + [0, n - 1]:
            assert handle["gene_ix"][str(i)][()].tolist() == [i]


def test_libhdf5_can_modify_the_file(tmp_path):
    path = tmp_path / "x.hdf5"
    names = [f"g{i}" for i in range(500)]
    write_grouped_datasets(
        path,
        names=names,
        indptr=np.arange(501) * 2,
        groups={"counts": np.ones(1000, np.float32)},
        attrs={"ncells": 3},
    )
    with h5py.File(path, "r+") as handle:
        handle["counts"].create_dataset("zz", data=[1, 2, 3])
        del handle["counts"]["g17"]
        handle.attrs["extra"] = 1
    with h5py.File(path, "r") as handle:
        assert len(handle["counts"]) == 500
        assert handle["counts"]["zz"][()].tolist() == [1, 2, 3]
        assert handle["counts"]["g499"][()].tolist() == [1.0, 1.0]
        assert dict(handle.attrs) == {"ncells": 3, "extra": 1}


@pytest.mark.parametrize(
    ("names", "indptr", "values", "message"),
    [
        (["a", "a"], [0, 1, 2], np.ones(2, np.float32), "unique"),
        (["a/b"], [0, 1], np.ones(1, np.float32), "'/'"),
        ([""], [0, 1], np.ones(1, np.float32), "non-empty"),
        (["a", "b"], [0, 2, 1], np.ones(1, np.float32), "non-decreasing"),
        (["a"], [0, 2], np.ones(1, np.float32), "indptr"),
        (["a"], [0, 1], np.ones(1, np.float16), "float32"),
    ],
)
def test_bad_arguments_are_refused(tmp_path, names, indptr, values, message):
    with pytest.raises(ValueError, match=message):
        write_grouped_datasets(
            tmp_path / "x.hdf5",
            names=names,
            indptr=np.array(indptr),
            groups={"v": values},
            attrs={},
        )


def test_stop_cancels(tmp_path):
    stop = threading.Event()
    stop.set()
    with pytest.raises(Cancelled):
        write_grouped_datasets(
            tmp_path / "x.hdf5",
            names=["a"],
            indptr=np.array([0, 1]),
            groups={"v": np.ones(1, np.float32)},
            attrs={},
            stop=stop,
        )

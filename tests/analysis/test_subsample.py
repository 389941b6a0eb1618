from __future__ import annotations

import numpy as np
import pytest

from bioblocks.analysis._subsample import (
    size_shorthand,
    subsample_cells,
    subsample_name,
    subsample_plan,
    subsample_sizes,
)
from bioblocks.errors import AnalysisInputError


def test_sizes() -> None:
    assert subsample_sizes(250_000) == [1_000, 5_000, 10_000, 100_000]
    assert subsample_sizes(100_000) == [1_000, 5_000, 10_000, 100_000]
    assert subsample_sizes(56_778) == [1_000, 5_000, 10_000, 56_778]
    assert subsample_sizes(6_933) == [1_000, 5_000, 6_933]
    assert subsample_sizes(4_790) == [1_000, 4_790]
    assert subsample_sizes(1_000) == [1_000]
    assert subsample_sizes(1) == [1]
    with pytest.raises(AnalysisInputError):
        subsample_sizes(0)


def test_names() -> None:
    assert size_shorthand(1000) == "1K"
    assert size_shorthand(5000) == "5K"
    assert size_shorthand(100_000) == "100K"
    assert size_shorthand(1_500_000) == "2M"
    assert size_shorthand(2_500_000) == "3M"
    assert size_shorthand(999) == "999"
    assert size_shorthand(999_999) == "1M"
    assert subsample_name("HPC", 4790) == "HPC - 4790"
    assert subsample_plan("HPC", 5_400) == [
        (1000, "HPC - 1K"),
        (5000, "HPC - 5K"),
        (5400, "HPC - 5400"),
    ]


def test_names_never_claim_a_size_the_analysis_does_not_have() -> None:
    # issue 13.13: the whole data of 1,817 cells was named "HPC - 2K"
    assert subsample_plan("HPC", 1_817) == [(1000, "HPC - 1K"), (1817, "HPC - 1817")]
    assert subsample_plan("HPC", 2_000) == [(1000, "HPC - 1K"), (2000, "HPC - 2K")]
    assert subsample_name("HPC", 1_500_000) == "HPC - 1500000"
    assert subsample_name("HPC", 999_999) == "HPC - 999999"
    assert subsample_name("HPC", 3_000_000) == "HPC - 3M"
    for n_cells in (1, 999, 1_000, 1_001, 1_499, 1_500, 4_790, 9_999, 10_500, 99_500, 250_000):
        for size, name in subsample_plan("d", n_cells):
            shown = name.removeprefix("d - ")
            scale = {"K": 1_000, "M": 1_000_000}.get(shown[-1], 1)
            assert int(shown.rstrip("KM")) * scale == size, (n_cells, size, name)


def test_draws_are_uniform_without_replacement_and_seeded() -> None:
    a = subsample_cells(10_000, 1_000, seed=7)
    assert a.size == 1_000 and np.unique(a).size == 1_000
    assert np.all(np.diff(a) > 0) and a.max() < 10_000
    np.testing.assert_array_equal(a, subsample_cells(10_000, 1_000, seed=7))
    assert not np.array_equal(a, subsample_cells(10_000, 1_000, seed=8))
    np.testing.assert_array_equal(subsample_cells(5, 10), np.arange(5))

"""``bioblocks diffexp`` on the SPRING analysis of the HPC data: its table against scipy."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from typer.testing import CliRunner

from bioblocks import cli
from bioblocks.analysis import ExpressionStore
from bioblocks.config import Settings
from bioblocks.store import open_store
from tests.conftest import HPC_ANALYSIS_ID, HPC_DATASET_ID

RUNNER = CliRunner()


@pytest.fixture
def env(hpc_spring, tmp_path: Path) -> dict[str, str | None]:
    url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    store = open_store(Settings(data_dir=hpc_spring.data_dir, database_url=url))
    try:
        store.insert("dataset", {"_id": HPC_DATASET_ID, "name": "HPC"})
        store.insert("analysis", {"_id": HPC_ANALYSIS_ID, "name": "HPC SPRING",
                                  "processType": "SPRING", "dataset": HPC_DATASET_ID})  # fmt: skip
    finally:
        store.close()
    return {"BIOBLOCKS_DATA_DIR": str(hpc_spring.data_dir), "BIOBLOCKS_DATABASE_URL": url,
            "BIOBLOCKS_LOG_LEVEL": "WARNING", "BIOBLOCKS_DEBUG": None, "COLUMNS": "200"}  # fmt: skip


def test_label_against_another_label_matches_scipy(env, hpc_spring) -> None:
    result = RUNNER.invoke(cli.app, ["diffexp", HPC_ANALYSIS_ID, "--track", "library",
                                     "--label", "P9A", "--vs", "P11A", "--top", "5",
                                     "--format", "json"], env=env)  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert len(rows) == 5
    store = ExpressionStore.open(hpc_spring.folder)
    library = np.asarray(json.loads((hpc_spring.folder / "HPC" / "categorical_coloring_data.json")
                                    .read_text())["library"]["label_list"])  # fmt: skip
    a, b = library == "P9A", library == "P11A"
    for row in rows:
        x = store.values(row["gene"]).astype(np.float64)
        assert row["pvalue"] == pytest.approx(
            stats.mannwhitneyu(x[a], x[b], method="asymptotic").pvalue, rel=1e-8)
    assert "P9A (" in result.output and "vs P11A" in result.output


def test_the_table_lists_the_top_genes(env) -> None:
    result = RUNNER.invoke(cli.app, ["diffexp", HPC_ANALYSIS_ID, "--track", "Leiden cluster",
                                     "--label", "0", "--top", "3", "--format", "table"], env=env)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "log2 FC" in result.stdout and "p adj (BH)" in result.stdout


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--track", "nope", "--label", "0"], "--track"),
        (["--track", "library", "--label", "P99"], "--label"),
        (["--track", "library", "--label", "P9A", "--vs", "P99"], "--vs"),
        (["--track", "library", "--label", "P9A", "--method", "anova"], "--method"),
    ],
)
def test_bad_options_are_one_line(env, args, option) -> None:
    result = RUNNER.invoke(cli.app, ["diffexp", HPC_ANALYSIS_ID, *args], env=env)
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"error: {option}: "), result.output

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import scipy.sparse as sp

from bioblocks.analysis.spring_folder import _names, _write


def test_coordinates_edges_and_pca_bytes(tmp_path: Path) -> None:
    _write.write_coordinates(tmp_path / "c.txt", np.array([[750.0, 250.123456], [1.5, -0.000001]]))
    assert (tmp_path / "c.txt").read_bytes() == b"0,750.00000,250.12346\n1,1.50000,-0.00000\n"
    _write.write_edges(tmp_path / "e.csv", np.array([[0, 1], [1, 2]]))
    assert (tmp_path / "e.csv").read_bytes() == b"0;1\n1;2\n"
    _write.write_rows(tmp_path / "p.csv", np.array([[1.23456, -2.0], [0.0005, 3.0]]), "%.3f")
    assert (tmp_path / "p.csv").read_bytes() == b"1.235,-2.000\n0.001,3.000\n"
    _write.write_cell_filter(tmp_path, np.array([3, 7]))
    assert (tmp_path / "cell_filter.txt").read_bytes() == b"3\n7\n"
    assert np.load(tmp_path / "cell_filter.npy").dtype == np.int64


def test_color_tracks_are_sorted_without_trailing_newline(tmp_path: Path) -> None:
    path = tmp_path / "color_data_gene_sets.csv"
    _write.write_color_tracks(path, {"Uniform": np.zeros(2), "Total Counts": np.array([10, 2.5])})
    assert path.read_bytes() == b"Total Counts,10.000,2.500\nUniform,0.000,0.000"


def test_graph_json_equals_json_dumps(tmp_path: Path) -> None:
    for n, edges in (
        (4, np.array([[0, 1], [1, 3]])),
        (3, np.zeros((0, 2), dtype=int)),
        (0, np.zeros((0, 2), dtype=int)),
    ):
        path = tmp_path / "graph_data.json"
        _write.write_graph(path, n, edges)
        want = {
            "nodes": [{"name": i, "number": i} for i in range(n)],
            "links": [{"source": int(i), "target": int(j), "distance": 0} for i, j in edges],
        }
        assert path.read_text() == json.dumps(want, indent=4, separators=(",", ": "))


def test_json_files_sorted_indent_4(tmp_path: Path) -> None:
    _write.write_json(tmp_path / "s.json", {"b": [1.0, 2.0, 0.0, 3.0, 2.5], "a": [0.0] * 5})
    text = (tmp_path / "s.json").read_text()
    assert text == json.dumps(
        {"a": [0.0] * 5, "b": [1.0, 2.0, 0.0, 3.0, 2.5]}, indent=4, sort_keys=True
    )
    assert text.index('"a"') < text.index('"b"')


def test_hdf5_files_read_like_the_spring_scripts(tmp_path: Path) -> None:
    dense = np.array([[0.0, 1.5, 0.0, 0.0], [2.0, 0.0, 0.0, 0.0], [0.0, 3.0, 0.0, 4.5]])
    genes = ["A", "B", "C", "D"]
    _write.write_main_columns(tmp_path, csc=sp.csc_matrix(dense), gene_names=genes,
                              total_counts=dense.sum(1))
    _write.write_main_rows(tmp_path, sp.csr_matrix(dense))
    (tmp_path / "counts_norm_sparse_genes.hdf5").rename(tmp_path / "g.hdf5")
    (tmp_path / "counts_norm_sparse_cells.hdf5").rename(tmp_path / "c.hdf5")
    with h5py.File(tmp_path / "g.hdf5", "r") as f:
        assert (f.attrs["ncells"], f.attrs["ngenes"]) == (3, 4)
        assert sorted(f["counts"]) == genes and sorted(f["cell_ix"]) == genes
        for j, g in enumerate(genes):
            column = np.zeros(int(f.attrs["ncells"]))
            column[f["cell_ix"][g][:]] = f["counts"][g][:]  # grab_one_gene.py
            np.testing.assert_array_equal(column, dense[:, j])
        assert f["counts"]["C"].shape == (0,)
        assert f["counts"].get("missing") is None
    with h5py.File(tmp_path / "c.hdf5", "r") as f:
        assert sorted(f["counts"]) == ["0", "1", "2"]
        for i in range(3):
            row = np.zeros(4)
            row[f["gene_ix"][str(i)][:]] = f["counts"][str(i)][:]
            np.testing.assert_array_equal(row, dense[i])


def test_subplot_name_is_the_dataset_name_made_one_safe_path_segment() -> None:
    # spec §10: `…/analyses/<aid>/<dataset name>/`, spaces and all (the old portal's URLs)
    assert _names.subplot_name("Hematopoietic Progenitor Cells") == "Hematopoietic Progenitor Cells"
    assert _names.subplot_name("Zellen: Maus #1 (ü)") == "Zellen: Maus #1 (ü)"
    assert _names.subplot_name("hpc/P9A") == "hpc_P9A"
    assert _names.subplot_name("a\\\\b\nc\x00d\x7f") == "a_b_c_d_"
    assert _names.subplot_name("  padded  ") == "padded"
    for bad in ("", " ", ".", "..", "/", "\n"):
        assert _names.subplot_name(bad) in ("analysis", "_")
    long = _names.subplot_name("é" * 300)
    assert len(long.encode("utf-8")) <= 240 and set(long) == {"é"}
    assert len(_names.subplot_name("x" * 300)) == 200
    for name in ("hpc/P9A", "é" * 300, "  a / b  ", ".."):
        once = _names.subplot_name(name)
        assert _names.subplot_name(once) == once  # a recorded name reads back as itself


def test_subplot_dir_uses_the_recorded_name_and_stays_inside(tmp_path: Path) -> None:
    assert _names.subplot_dir(tmp_path, {"subplot": "HPC"}, "renamed since") == tmp_path / "HPC"
    assert _names.subplot_dir(tmp_path, {}, "hpc/P9A") == tmp_path / "hpc_P9A"
    assert _names.subplot_dir(tmp_path, None, "HPC") == tmp_path / "HPC"
    for forged in ("../../etc", "..", "a/b", "", 7):
        assert _names.subplot_dir(tmp_path, {"subplot": forged}, "HPC") == tmp_path / "HPC"


def test_every_subplot_is_read_only_for_the_viewer(tmp_path: Path) -> None:
    # issue 13.16: without mutability.txt the viewer offers editing the server cannot do
    n = 3
    _write.write_subplot(
        tmp_path / "HPC", gene_names=["A", "B"], cell_filter=np.arange(n),
        coordinates=np.zeros((n, 2)), edges=np.array([[0, 1]]), epca=np.zeros((n, 2)),
        gene_filter=np.array([0]), total_counts=np.ones(n), louvain=np.zeros(n),
        categorical={}, tracks={}, stats={}, run_info={"Nodes": n},
    )  # fmt: skip
    assert (tmp_path / "HPC" / "mutability.txt").read_bytes() == b""

"""The analysis folder format (spec §10, §11): its file names, writers and readers.

``datasets/<dataset>/analyses/<analysis>/`` holds the main (normalised) matrix of a SPRING
analysis (``counts_norm.npz``, ``genes.txt``, ``total_counts.txt``, the two bulk-written
HDF5 files, the expression store) or a t-SNE/UMAP result (``tsne_output.csv``,
``tsne_matrix.csv``, ``umap_output.csv``, and ``cells.txt``: the cell of each row), with
``run_info.json`` and ``preview.png``; a SPRING analysis's subplot folder
``<dataset name>/`` holds what the SPRING viewer reads.

* :mod:`._names`: every file name, :data:`DOWNLOADS`, :func:`subplot_name`, :func:`subplot_dir`;
* :mod:`._write`: the writers (:func:`write_subplot`, :func:`write_main_columns`, …), over
  :mod:`._hdf5`, the bulk HDF5 writer;
* :mod:`._read`: the readers (:func:`read_pca`, :func:`gene_values`,
  :func:`mean_expression`, …) and the viewer's z-scores (:func:`gene_zscores`).
"""

from bioblocks.analysis.spring_folder._hdf5 import write_grouped_datasets
from bioblocks.analysis.spring_folder._names import (
    CELLS,
    DOWNLOADS,
    LAYOUTS,
    MUTABILITY_FILE,
    RUN_INFO,
    SUBPLOT_PARAMETER,
    TSNE_MATRIX,
    TSNE_OUTPUT,
    UMAP_OUTPUT,
    subplot_dir,
    subplot_name,
)
from bioblocks.analysis.spring_folder._read import (
    WORK_CHUNK,
    ZSCORE_TOP_GENES,
    gene_values,
    gene_zscores,
    mean_expression,
    read_categorical,
    read_cell_filter,
    read_cells,
    read_color_stats,
    read_color_tracks,
    read_coordinates,
    read_embedding,
    read_gene_filter,
    read_genes,
    read_pca,
    read_total_counts,
)
from bioblocks.analysis.spring_folder._write import (
    remove_main_rows,
    write_cells,
    write_embedding,
    write_json,
    write_main_columns,
    write_main_rows,
    write_mutability,
    write_rows,
    write_subplot,
)

__all__ = [
    "CELLS", "DOWNLOADS", "LAYOUTS", "MUTABILITY_FILE", "RUN_INFO", "SUBPLOT_PARAMETER", "TSNE_MATRIX",
    "TSNE_OUTPUT", "UMAP_OUTPUT", "WORK_CHUNK", "ZSCORE_TOP_GENES", "gene_values", "gene_zscores",
    "mean_expression", "read_categorical", "read_cell_filter", "read_cells", "read_color_stats",
    "read_color_tracks", "read_coordinates", "read_embedding", "read_gene_filter", "read_genes",
    "read_pca", "read_total_counts", "remove_main_rows", "subplot_dir", "subplot_name",
    "write_cells", "write_embedding", "write_grouped_datasets", "write_json", "write_main_columns", "write_main_rows",
    "write_mutability", "write_rows", "write_subplot",
]

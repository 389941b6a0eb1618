"""Science only: arrays in, arrays and files out (no HTTP, no SQL).

SPRING (:func:`run_spring`) and its building blocks: total-count normalisation,
v-score gene selection, z-scored PCA, kNN graph, ForceAtlas2 layout, clusters,
colour statistics and the per-gene expression store; the analysis folder format
(:mod:`bioblocks.analysis.spring_folder`: file names, writers, readers);
t-SNE (:func:`run_tsne`) and UMAP (:func:`run_umap`) embeddings of a PCA; previews.
"""

from bioblocks.analysis._clusters import leiden_clusters, louvain_clusters
from bioblocks.analysis._colors import categorical_track, gene_color_stats, track_color_stats
from bioblocks.analysis._expression import ExpressionStore
from bioblocks.analysis._genes import filter_genes, remove_correlated_genes, vscores
from bioblocks.analysis._neighbors import knn_edges, knn_indices
from bioblocks.analysis._pca import zscore_pca
from bioblocks.analysis._preprocess import filter_cells, normalize_total
from bioblocks.analysis._subsample import (
    size_shorthand,
    subsample_cells,
    subsample_name,
    subsample_plan,
    subsample_sizes,
)
from bioblocks.analysis.embeddings import (
    TsneParams,
    TsneResult,
    UmapParams,
    UmapResult,
    run_tsne,
    run_umap,
)
from bioblocks.analysis.layout import forceatlas2
from bioblocks.analysis.preview import write_preview
from bioblocks.analysis.spring import SpringParams, SpringResult, postprocess_layout, run_spring
from bioblocks.analysis.spring_folder import (
    MUTABILITY_FILE,
    SUBPLOT_PARAMETER,
    subplot_dir,
    subplot_name,
)

__all__ = [
    "MUTABILITY_FILE",
    "SUBPLOT_PARAMETER",
    "ExpressionStore",
    "SpringParams",
    "SpringResult",
    "TsneParams",
    "TsneResult",
    "UmapParams",
    "UmapResult",
    "categorical_track",
    "filter_cells",
    "filter_genes",
    "forceatlas2",
    "gene_color_stats",
    "knn_edges",
    "knn_indices",
    "leiden_clusters",
    "louvain_clusters",
    "normalize_total",
    "postprocess_layout",
    "remove_correlated_genes",
    "run_spring",
    "run_tsne",
    "run_umap",
    "size_shorthand",
    "subsample_cells",
    "subsample_name",
    "subsample_plan",
    "subsample_sizes",
    "subplot_dir",
    "subplot_name",
    "track_color_stats",
    "vscores",
    "write_preview",
    "zscore_pca",
]

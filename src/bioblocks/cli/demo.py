"""``bioblocks demo``: the README's first command, the embedded defaults end to end."""

from __future__ import annotations

import typer

from ._base import Bar, console, friendly_errors, open_configured_store
from .metadata import populate
from .pipeline import pipeline_run
from .serve import serve

#: The fixed id of the synthetic example dataset that ``bioblocks demo`` builds.
EXAMPLE_DATASET_ID = "e5a3b1c0-7d2f-4a6b-9c8e-1f0a2b3c4d5e"
EXAMPLE_DATASET_NAME = "Synthetic haematopoiesis (simulated example)"


@friendly_errors
def demo(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8000, help="TCP port."),
    cells: int = typer.Option(3000, help="Cells in the simulated example dataset."),
    no_serve: bool = typer.Option(False, "--no-serve",  # noqa: FBT003
                                  help="Set everything up, then exit instead of serving."),
) -> None:
    """Set up the embedded defaults end to end, then serve.

    Creates the store (SQLite under BIOBLOCKS_DATA_DIR, default ./files), loads the
    example metadata, imports the synthetic example dataset (a simulated haematopoiesis
    with the blood marker genes of its lineages, e.g. Cd34, Gata1, Pf4, Mpo, Csf1r, Dntt;
    not real data), runs the pipeline on it (SPRING at each subsample size, t-SNE, UMAP) and
    starts the server with its local job workers. Safe to run again: done steps are skipped.
    """
    import tempfile
    from pathlib import Path

    from ..ingest import make_example_dataset
    from ..pipeline.operations import import_dataset

    populate(file=None)
    config, store = open_configured_store()
    try:
        dataset = store.get("dataset", EXAMPLE_DATASET_ID)
        if dataset is None or not dataset.get("matrixLocation"):
            with tempfile.TemporaryDirectory(dir=config.resolved_data_dir) as scratch:
                source = make_example_dataset(Path(scratch) / "example", n_cells=cells, seed=0)
                with Bar("importing the example dataset") as bar:
                    import_dataset(
                        store, config, [source / "lib1", source / "lib2"],
                        name=EXAMPLE_DATASET_NAME, species="mus_musculus",
                        dataset_id=EXAMPLE_DATASET_ID, labels=["lib1", "lib2"], progress=bar,
                    )
    finally:
        store.close()
    pipeline_run(steps="spring,tsne,umap", dataset=[EXAMPLE_DATASET_ID], limit=None,
                 dry_run=False, param=None, hca=None)
    if no_serve:
        return
    console.print(f"serving on http://{host}:{port}/ (Ctrl-C stops)", highlight=False)
    serve(host=host, port=port, workers=1)

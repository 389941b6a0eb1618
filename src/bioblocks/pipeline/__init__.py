"""The process steps and the operations behind them.

* :mod:`.operations`: import a dataset, fetch its matrix, import an HCA
  project, run an analysis, delete a dataset's files — each leaving files and
  documents consistent.
* :mod:`.kinds`: the job kinds that run those operations in the background.
* :mod:`.steps`: the pipeline (``hca-sync``, ``fetch-matrices``, ``spring``,
  ``tsne``, ``umap``), idempotent steps that queue jobs.
* :mod:`.scheduler`: the cron schedule and the background services of ``serve``.
* :mod:`.upgrade`: upgrades of the files tree (SPRING subplot folders named
  after their dataset), run by ``bioblocks db upgrade`` and ``serve``.
"""

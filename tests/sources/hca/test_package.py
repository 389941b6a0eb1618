"""The public face of ``bioblocks.sources.hca`` is what ``__all__`` says."""

from __future__ import annotations

import inspect

import bioblocks.sources.hca as hca


def test_exported_members() -> None:
    public = {name for name in dir(hca) if not name.startswith("_")}
    modules = {name for name in public if inspect.ismodule(getattr(hca, name))}
    assert set(hca.__all__) == public - modules
    assert sorted(hca.__all__) == sorted(set(hca.__all__))


def test_options_are_keyword_only() -> None:
    for name in ("prepare_import", "projects", "download_matrix", "choose_matrix", "matching_matrices"):
        parameters = inspect.signature(getattr(hca, name)).parameters.values()
        positional = [p for p in parameters if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]
        assert len(positional) <= 3, name
        assert all(p.default is inspect.Parameter.empty for p in positional), name

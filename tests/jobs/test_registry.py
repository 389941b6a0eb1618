"""The registry of job kinds: handed in by a composition root, replayed in spawned workers."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from bioblocks.config import Settings
from bioblocks.jobs import (
    JobContext,
    JobKind,
    LocalWorkers,
    _model,
    get_kind,
    install_kinds,
    kind_installers,
    registered_kinds,
)
from bioblocks.pipeline.kinds import register_kinds
from bioblocks.resources.job import KINDS

CALLS: list[str] = []


def _run(ctx: JobContext) -> dict[str, str]:
    return {"ran": ctx.job_id}


def _counting_installer(register: Callable[[JobKind], JobKind]) -> None:
    CALLS.append("installed")
    register(JobKind("pipeline", _run, needs_dataset=False))


def test_a_fresh_process_knows_no_kind_and_no_pipeline() -> None:
    code = (
        "import sys\n"
        "import bioblocks.jobs as jobs\n"
        "print(sorted(m for m in sys.modules if m.startswith('bioblocks.pipeline')))\n"
        "print(jobs.registered_kinds())\n"
        "try:\n"
        "    jobs.require_kinds()\n"
        "except RuntimeError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120).stdout.splitlines()
    assert out[:2] == ["[]", "[]"]  # importing jobs loads no pipeline module and no kind
    assert "install_kinds(bioblocks.pipeline.kinds.register_kinds)" in out[2]


def test_the_pipeline_registers_every_kind_of_the_job_resource() -> None:
    # The session fixture installed the real kinds, as the composition roots do.
    assert register_kinds in kind_installers()
    assert registered_kinds() == sorted(KINDS)
    assert get_kind("t-sne").name == "TSNE" and not get_kind("import").needs_dataset


def test_an_installer_runs_once_per_process_and_goes_to_the_workers(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(_model, "_INSTALLERS", list(_model._INSTALLERS))
    monkeypatch.setattr(_model, "_REGISTRY", dict(_model._REGISTRY))
    CALLS.clear()
    install_kinds(_counting_installer)
    install_kinds(_counting_installer)  # a second root in the same process
    assert CALLS == ["installed"]
    assert get_kind("pipeline").run is _run
    assert kind_installers() == (register_kinds, _counting_installer)
    settings = Settings(data_dir=tmp_path)
    assert LocalWorkers(settings, processes=1).installers == (register_kinds, _counting_installer)


def test_a_pool_without_installers_refuses_to_start(tmp_path: Path) -> None:
    pool = LocalWorkers(Settings(data_dir=tmp_path), processes=1, installers=())
    with pytest.raises(RuntimeError, match="would know no job kind"):
        pool.start()

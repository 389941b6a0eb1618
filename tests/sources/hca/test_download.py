"""Downloading a matrix: fetch loop, signed URL, resume, verification, link variants."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from bioblocks.errors import Cancelled, InputError, NotFoundError
from bioblocks.sources.hca import (
    AzulClient,
    AzulError,
    DownloadVerificationError,
    MatrixFile,
    download_matrix,
    local_name,
)

from .conftest import SleepRecorder
from .fake_azul import KIDNEY_H5AD, KIDNEY_LOOM, KIDNEY_PROJECT, RETINA_MTX_ZIP, FakeAzul

CONTENT = bytes(range(256)) * 1000  # 256 kB, not a multiple of the 1 MiB chunk


def _file(client: AzulClient, uuid: str, project: str = KIDNEY_PROJECT) -> MatrixFile:
    return next(m for m in client.project(project).matrices if m.uuid == uuid)


def test_download_and_verify(client: AzulClient, fake_azul: FakeAzul, tmp_path: Path) -> None:
    fake_azul.serve_file(KIDNEY_LOOM, CONTENT)
    seen: list[float] = []
    path = download_matrix(
        client, _file(client, KIDNEY_LOOM), tmp_path, progress=lambda f, _m: seen.append(f)
    )
    assert path == tmp_path / f"{KIDNEY_LOOM}-fictional-kidney-cortex-human-10XV3.loom"
    assert path.read_bytes() == CONTENT
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]
    assert seen[0] == 0.0 and seen[-1] == 1.0 and seen == sorted(seen)
    fetch = fake_azul.requests_to("/fetch/repository/files/")
    assert len(fetch) == 1
    assert fetch[0].path == f"/fetch/repository/files/{KIDNEY_LOOM}"
    assert fetch[0].query == "catalog=dcp60&version=2024-01-12T09%3A41%3A07.000000Z"
    storage = fake_azul.requests_to("/datarepo-5c1f2a9e-bucket/")
    assert len(storage) == 1  # the fixture's signed URL, followed exactly as given
    assert "X-Goog-Credential=fake-signer%40example.iam.gserviceaccount.com%2F20260101" in storage[0].query
    assert "Range" not in storage[0].headers


def test_already_downloaded_file_is_reused(client: AzulClient, fake_azul: FakeAzul, tmp_path: Path) -> None:
    fake_azul.serve_file(KIDNEY_LOOM, CONTENT)
    file = _file(client, KIDNEY_LOOM)
    download_matrix(client, file, tmp_path)
    before = len(fake_azul.requests)
    assert download_matrix(client, file, tmp_path).read_bytes() == CONTENT
    assert len(fake_azul.requests) == before


def test_301_retry_after_before_302(
    client: AzulClient, fake_azul: FakeAzul, sleeps: SleepRecorder, tmp_path: Path
) -> None:
    fake_azul.serve_file(KIDNEY_H5AD, CONTENT)
    fake_azul.not_ready(KIDNEY_H5AD, times=2, retry_after=1)
    path = download_matrix(client, _file(client, KIDNEY_H5AD), tmp_path)
    assert path.read_bytes() == CONTENT
    fetch = fake_azul.requests_to("/fetch/repository/files/")
    assert [r.params.get("requestIndex") for r in fetch] == [None, ["1"], ["2"]]
    assert sleeps.calls == [1.0, 1.0]


def test_301_loop_is_bounded(fake_azul: FakeAzul, sleeps: SleepRecorder, tmp_path: Path) -> None:
    fake_azul.serve_file(KIDNEY_H5AD, CONTENT)
    fake_azul.not_ready(KIDNEY_H5AD, times=50, retry_after=1)
    with AzulClient(
        base_url=fake_azul.base_url, requests_per_second=None, sleep=sleeps, max_fetch_hops=4
    ) as azul:
        with pytest.raises(AzulError, match="still not ready after 4"):
            download_matrix(azul, _file(azul, KIDNEY_H5AD), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_429_then_success_on_fetch(
    client: AzulClient, fake_azul: FakeAzul, sleeps: SleepRecorder, tmp_path: Path
) -> None:
    fake_azul.serve_file(KIDNEY_LOOM, CONTENT)
    file = _file(client, KIDNEY_LOOM)
    fake_azul.throttle("/fetch/repository/files/", retry_after=2)
    assert download_matrix(client, file, tmp_path).read_bytes() == CONTENT
    assert sleeps.calls == [2.0]


def test_404_file(client: AzulClient, fake_azul: FakeAzul, tmp_path: Path) -> None:
    file = _file(client, KIDNEY_LOOM)  # listed, but the service has no download for it
    with pytest.raises(NotFoundError, match=KIDNEY_LOOM):
        download_matrix(client, file, tmp_path)
    assert len(fake_azul.requests_to("/fetch/")) == 1
    assert list(tmp_path.iterdir()) == []


def test_sha256_mismatch_removes_the_file(client: AzulClient, fake_azul: FakeAzul, tmp_path: Path) -> None:
    fake_azul.serve_file(KIDNEY_LOOM, CONTENT, index_sha256="0" * 64)
    with pytest.raises(DownloadVerificationError, match="sha256"):
        download_matrix(client, _file(client, KIDNEY_LOOM), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_size_mismatch_removes_the_file(client: AzulClient, fake_azul: FakeAzul, tmp_path: Path) -> None:
    fake_azul.serve_file(KIDNEY_LOOM, CONTENT)
    fake_azul.leaf(KIDNEY_LOOM)["size"] = len(CONTENT) + 10
    with pytest.raises(DownloadVerificationError, match="bytes"):
        download_matrix(client, _file(client, KIDNEY_LOOM), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_more_bytes_than_announced(client: AzulClient, fake_azul: FakeAzul, tmp_path: Path) -> None:
    fake_azul.serve_file(KIDNEY_LOOM, CONTENT)
    fake_azul.leaf(KIDNEY_LOOM)["size"] = 1000
    with pytest.raises(DownloadVerificationError, match="more than 1000 bytes"):
        download_matrix(client, _file(client, KIDNEY_LOOM), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_cut_off_half_way_is_resumed(
    client: AzulClient, fake_azul: FakeAzul, sleeps: SleepRecorder, tmp_path: Path
) -> None:
    fake_azul.serve_file(KIDNEY_LOOM, CONTENT)
    half = len(CONTENT) // 2
    fake_azul.cut_off(KIDNEY_LOOM, after_bytes=half)
    path = download_matrix(client, _file(client, KIDNEY_LOOM), tmp_path)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == hashlib.sha256(CONTENT).hexdigest()
    storage = fake_azul.requests_to("/datarepo-5c1f2a9e-bucket/")
    assert [r.headers.get("Range") for r in storage] == [None, f"bytes={half}-"]
    assert len(sleeps.calls) == 1


def test_part_file_of_an_interrupted_run_is_resumed(
    client: AzulClient, fake_azul: FakeAzul, tmp_path: Path
) -> None:
    fake_azul.serve_file(KIDNEY_H5AD, CONTENT)
    file = _file(client, KIDNEY_H5AD)
    part = tmp_path / (local_name(file) + ".part")
    part.write_bytes(CONTENT[:1000])
    path = download_matrix(client, file, tmp_path)
    assert path.read_bytes() == CONTENT
    assert not part.exists()
    storage = fake_azul.requests_to("/datarepo-fake-bucket/")
    assert [r.headers.get("Range") for r in storage] == ["bytes=1000-"]


def test_complete_part_file_needs_no_request(
    client: AzulClient, fake_azul: FakeAzul, tmp_path: Path
) -> None:
    fake_azul.serve_file(KIDNEY_H5AD, CONTENT)
    file = _file(client, KIDNEY_H5AD)
    (tmp_path / (local_name(file) + ".part")).write_bytes(CONTENT)
    assert download_matrix(client, file, tmp_path).read_bytes() == CONTENT
    assert fake_azul.requests_to("/datarepo-fake-bucket/") == []


def test_cancelled_download_keeps_the_part(client: AzulClient, fake_azul: FakeAzul, tmp_path: Path) -> None:
    big = CONTENT * 12  # 3 MB: several chunks
    fake_azul.serve_file(KIDNEY_H5AD, big)
    file = _file(client, KIDNEY_H5AD)

    def cancel(fraction: float, _message: str) -> None:
        if fraction > 0.3:
            raise Cancelled("stop")

    with pytest.raises(Cancelled):
        download_matrix(client, file, tmp_path, progress=cancel)
    part = tmp_path / (local_name(file) + ".part")
    assert 0 < part.stat().st_size < len(big)
    assert download_matrix(client, file, tmp_path).read_bytes() == big


def test_expired_signature_is_renewed_once(client: AzulClient, fake_azul: FakeAzul, tmp_path: Path) -> None:
    fake_azul.serve_file(KIDNEY_H5AD, CONTENT)
    fake_azul.expire(KIDNEY_H5AD)
    assert download_matrix(client, _file(client, KIDNEY_H5AD), tmp_path).read_bytes() == CONTENT
    assert len(fake_azul.requests_to("/fetch/")) == 2
    fake_azul.expire(KIDNEY_H5AD, times=2)
    with pytest.raises(AzulError, match="fresh signed URL"):
        download_matrix(client, _file(client, KIDNEY_H5AD), tmp_path / "again")


def test_size_limit_checked_before_download(client: AzulClient, fake_azul: FakeAzul, tmp_path: Path) -> None:
    fake_azul.serve_file(KIDNEY_LOOM, CONTENT)
    with pytest.raises(InputError, match="limit") as caught:
        download_matrix(client, _file(client, KIDNEY_LOOM), tmp_path, max_bytes=1000)
    assert caught.value.field == "file"
    assert fake_azul.requests_to("/fetch/") == []


@pytest.mark.parametrize("keep", ["url", "azul_url", None])
def test_leaf_link_variants(
    client: AzulClient, fake_azul: FakeAzul, tmp_path: Path, keep: str | None
) -> None:
    """A leaf with only ``url``, only ``azul_url``, or neither (the URL is built) downloads the same."""
    content = b"mtx zip bytes" * 100
    fake_azul.serve_file(RETINA_MTX_ZIP, content)
    for leaf in fake_azul.leaves(RETINA_MTX_ZIP):
        for key in ("url", "azul_url"):
            if key != keep:
                leaf.pop(key)
    file = next(m for m in client.find_project("MadeUpRetina").matrices if m.uuid == RETINA_MTX_ZIP)
    assert (file.url is not None, file.azul_url is not None) == (keep == "url", keep == "azul_url")
    path = download_matrix(client, file, tmp_path)
    assert path.read_bytes() == content
    assert path.name.endswith(".homo_sapiens.mtx.zip")
    fetch = fake_azul.requests_to("/fetch/repository/files/")[0]
    assert fetch.path == f"/fetch/repository/files/{RETINA_MTX_ZIP}"
    assert fetch.params == {"catalog": ["dcp60"], "version": ["2020-12-03T10:39:17.144517Z"]}


def test_local_name_is_safe() -> None:
    file = MatrixFile(
        uuid="u/1", version=None, name="../../etc/pa ss.loom", format="loom", declared_format=None,
        size=None, sha256=None, cell_count=None, dcp_generated=True, file_source=None,
    )
    assert local_name(file) == "u_1-pa_ss.loom"

"""The Azul client against the fake server: catalogs, pagination, retries, errors, politeness."""

from __future__ import annotations

import json
import socket
from urllib.parse import parse_qs, urlsplit

import pytest

from bioblocks.config import get_settings
from bioblocks.errors import InputError, NotFoundError
from bioblocks.sources.hca import AzulClient, AzulError, TokenBucket, to_fetch_url
from bioblocks.sources.hca._client import ALLOWED_PARAMS, parse_retry_after

from .conftest import SleepRecorder
from .fake_azul import KIDNEY_PROJECT, PAGE2_SEARCH_AFTER, RETINA_PROJECT, FakeAzul


def test_default_catalog_from_service(client: AzulClient, fake_azul: FakeAzul) -> None:
    assert client.catalog == "dcp60"
    assert client.catalog == "dcp60"
    assert len(fake_azul.requests_to("/index/catalogs")) == 1  # cached


def test_default_skips_internal_and_other_atlases(client: AzulClient, fake_azul: FakeAzul) -> None:
    fake_azul.catalogs["default_catalog"] = "lm10"
    assert client.catalog == "dcp60"


def test_unknown_pinned_catalog_lists_valid_ones(fake_azul: FakeAzul) -> None:
    with AzulClient(base_url=fake_azul.base_url, catalog="dcp1", requests_per_second=None) as azul:
        with pytest.raises(InputError) as caught:
            list(azul.search_projects())
    assert caught.value.field == "catalog"
    assert "'dcp1'" in str(caught.value) and "dcp60" in str(caught.value)
    assert "dcp60-it" not in str(caught.value)
    assert fake_azul.requests_to("/index/projects") == []


def test_unknown_catalog_404_from_service(client: AzulClient, fake_azul: FakeAzul) -> None:
    with pytest.raises(InputError) as caught:
        client.get_json("/index/projects", params={"catalog": "dcp2"})
    assert "valid catalogs are dcp60" in str(caught.value)
    assert len(fake_azul.requests_to("/index/projects")) == 1  # never retried


def test_two_pages_follow_next_unchanged(client: AzulClient, fake_azul: FakeAzul) -> None:
    found = list(client.search_projects(filters={"fileFormat": {"is": ["loom", "h5ad", "zip"]}}))
    assert [p.short_name for p in found] == ["FictionalKidneyCortex", "MadeUpRetina"]
    first, second = fake_azul.requests_to("/index/projects")
    assert first.params == {
        "catalog": ["dcp60"],
        "filters": ['{"fileFormat":{"is":["loom","h5ad","zip"]}}'],
        "size": ["100"],
        "sort": ["projectTitle"],
        "order": ["asc"],
    }
    expected = urlsplit(fake_azul.pages[0]["pagination"]["next"]).query
    assert second.query == expected  # byte for byte, as Azul built it
    assert second.params["search_after"] == [PAGE2_SEARCH_AFTER]


def test_only_known_parameters_are_sent(client: AzulClient, fake_azul: FakeAzul) -> None:
    list(client.search_projects())
    client.project(KIDNEY_PROJECT)
    assert fake_azul.requests
    for request in fake_azul.requests:
        assert set(request.params) <= ALLOWED_PARAMS
    with pytest.raises(ValueError, match="cache"):
        client.get_json("/index/projects", params={"cache": "1"})


def test_project_by_id_and_short_name(client: AzulClient, fake_azul: FakeAzul) -> None:
    assert client.find_project(RETINA_PROJECT).short_name == "MadeUpRetina"
    assert client.find_project("MadeUpRetina").project_id == RETINA_PROJECT
    search = fake_azul.requests_to("/index/projects")[-1]
    assert json.loads(search.params["filters"][0]) == {"project": {"is": ["MadeUpRetina"]}}


def test_unknown_project(client: AzulClient) -> None:
    with pytest.raises(NotFoundError, match="a1b2c3d4-0000-4708-9a1b-2c3d4e5f6071"):
        client.find_project("a1b2c3d4-0000-4708-9a1b-2c3d4e5f6071")
    with pytest.raises(NotFoundError, match="NoSuchProject"):
        client.find_project("NoSuchProject")
    with pytest.raises(InputError):
        client.find_project("  ")


def test_429_honours_retry_after(client: AzulClient, fake_azul: FakeAzul, sleeps: SleepRecorder) -> None:
    fake_azul.throttle("/index/catalogs", times=2, retry_after=3)
    assert client.catalogs().default == "dcp60"
    assert sleeps.calls == [3.0, 3.0]
    assert len(fake_azul.requests_to("/index/catalogs")) == 3


def test_429_without_header_uses_default(fake_azul: FakeAzul, sleeps: SleepRecorder) -> None:
    fake_azul.fail("/index/catalogs", 429)
    with AzulClient(
        base_url=fake_azul.base_url, requests_per_second=None, sleep=sleeps, retry_after_default=7
    ) as azul:
        azul.catalogs()
    assert sleeps.calls == [7]


def test_5xx_backoff_is_exponential_and_bounded(
    client: AzulClient, fake_azul: FakeAzul, sleeps: SleepRecorder
) -> None:
    fake_azul.fail("/index/catalogs", 503, times=100, body={"Code": "ServiceUnavailableError", "Message": "down"})
    with pytest.raises(AzulError, match="after 5 attempts") as caught:
        client.catalogs()
    assert "down" in str(caught.value)
    assert len(fake_azul.requests_to("/index/catalogs")) == 5
    assert len(sleeps.calls) == 4
    for attempt, wait in enumerate(sleeps.calls):
        assert 2**attempt <= wait <= 1.25 * 2**attempt


def test_5xx_then_success(client: AzulClient, fake_azul: FakeAzul, sleeps: SleepRecorder) -> None:
    fake_azul.fail("/index/projects", 502)
    assert len(list(client.search_projects())) == 2
    assert len(sleeps.calls) == 1


def test_400_is_not_retried_and_carries_azul_message(client: AzulClient, fake_azul: FakeAzul) -> None:
    fake_azul.fail("/index/projects", 400, body={"Code": "BadRequestError", "Message": "Unknown field `foo`"})
    with pytest.raises(InputError, match="Unknown field `foo`"):
        list(client.search_projects())
    assert len(fake_azul.requests_to("/index/projects")) == 1


def test_403_is_an_azul_error(client: AzulClient, fake_azul: FakeAzul) -> None:
    fake_azul.fail("/index/catalogs", 403, body={"Code": "ForbiddenError", "Message": "Cannot filter"})
    with pytest.raises(AzulError, match="HTTP 403"):
        client.catalogs()


def test_connection_errors_retry_then_fail(sleeps: SleepRecorder) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with AzulClient(
        base_url=f"http://127.0.0.1:{port}", requests_per_second=None, sleep=sleeps, max_attempts=3, timeout=2
    ) as azul:
        with pytest.raises(AzulError, match="did not answer the catalog list after 3 attempts"):
            azul.catalogs()
    assert len(sleeps.calls) == 2


def test_next_link_to_another_host_is_refused(client: AzulClient, fake_azul: FakeAzul) -> None:
    fake_azul.pages[0]["pagination"]["next"] = "https://elsewhere.example/index/projects?size=1"
    with pytest.raises(AzulError, match="another host"):
        list(client.search_projects())


def test_token_bucket_spaces_requests() -> None:
    now = [0.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    bucket = TokenBucket(2.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(5):
        bucket.acquire()
    assert waits == [0.5, 0.5, 0.5, 0.5]
    now[0] += 10.0  # idle time refills only up to the capacity (one token)
    bucket.acquire()
    bucket.acquire()
    assert waits[-1] == 0.5 and len(waits) == 5
    assert TokenBucket(None).acquire() == 0.0


def test_client_is_rate_limited_by_default(fake_azul: FakeAzul, sleeps: SleepRecorder) -> None:
    with AzulClient(base_url=fake_azul.base_url, sleep=sleeps) as azul:
        assert azul.bucket.rate == 2.0
        # the same bucket on a clock that stands still, so the waits do not depend on how
        # fast this machine answers the requests
        azul.bucket = TokenBucket(azul.bucket.rate, clock=lambda: 0.0, sleep=sleeps)
        list(azul.search_projects())  # catalogs + two pages: three requests
    assert sleeps.calls == [0.5, 0.5]


def test_from_settings(fake_azul: FakeAzul) -> None:
    settings = get_settings(hca_url=fake_azul.base_url + "/", hca_catalog="dcp60", hca_requests_per_second=0)
    with AzulClient.from_settings(settings) as azul:
        assert azul.base_url == fake_azul.base_url
        assert azul.bucket.rate is None
        assert azul.catalog == "dcp60"
    with AzulClient.from_settings(settings, catalog="lm10") as azul:
        assert azul.catalog == "lm10"


def test_to_fetch_url_keeps_query() -> None:
    url = "https://h/repository/files/u1?catalog=dcp60&version=2024-01-12T09%3A41%3A07.000000Z"
    assert to_fetch_url(url) == "https://h/fetch/repository/files/u1?catalog=dcp60&version=2024-01-12T09%3A41%3A07.000000Z"
    assert to_fetch_url("https://h/fetch/repository/files/u1?x=1") == "https://h/fetch/repository/files/u1?x=1"
    assert to_fetch_url("https://h/azul/repository/files/u1").endswith("/azul/fetch/repository/files/u1")
    with pytest.raises(AzulError):
        to_fetch_url("https://h/index/files")


def test_parse_retry_after() -> None:
    assert parse_retry_after("12", default=30) == 12
    assert parse_retry_after(None, default=30) == 30
    assert parse_retry_after("soon", default=30) == 30
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", default=30) == 0
    assert parse_qs("a=1")  # urllib sanity for the helpers above


def test_timeouts_retry_then_fail(fake_azul: FakeAzul, sleeps: SleepRecorder) -> None:
    # A slow answer waits until the test is over (not a time to outlast), so each of
    # those attempts times out whatever the machine's speed.
    fake_azul.slow("/index/catalogs", seconds=600, times=1)
    with AzulClient(
        base_url=fake_azul.base_url, requests_per_second=None, sleep=sleeps, timeout=1.0, max_attempts=3
    ) as azul:
        assert azul.catalog == "dcp60"  # the second attempt is answered at once
        assert len(sleeps.calls) == 1
        fake_azul.slow("/index/projects", seconds=600, times=3)
        with pytest.raises(AzulError, match="ReadTimeout"):
            azul.project(KIDNEY_PROJECT)

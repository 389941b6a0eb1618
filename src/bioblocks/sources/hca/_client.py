"""The Azul REST client: catalogs, project search with pagination, the file fetch loop.

Politeness and robustness rules (``spec/hca-azul.md`` §4):

* a token bucket spaces requests (default 2 per second);
* 429 → sleep ``Retry-After`` (default 30 s) and retry;
* 5xx, timeouts and connection errors → exponential backoff with jitter, bounded;
* 4xx is never retried: 400 → :class:`~bioblocks.errors.InputError` with Azul's
  message, 404 → :class:`~bioblocks.errors.NotFoundError` (or an ``InputError``
  listing the valid catalogs when the catalog is unknown);
* only query parameters Azul knows are ever sent (Azul answers 400 to others);
  ``pagination.next`` links are followed unchanged.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from ...errors import InputError, NotFoundError
from ._errors import AzulError
from ._models import CatalogList, MatrixFile, Project, parse_catalogs, parse_project

if TYPE_CHECKING:
    from ...config import Settings

logger = logging.getLogger(__name__)

DEFAULT_URL = "https://service.azul.data.humancellatlas.org"
#: Query parameters Azul accepts on the endpoints this client calls (others give 400).
ALLOWED_PARAMS: frozenset[str] = frozenset(
    {
        "catalog",
        "filters",
        "size",
        "sort",
        "order",
        "search_after",
        "search_before",
        "version",
        "fileName",
        "wait",
        "replica",
    }
)
#: Azul's largest page for the projects index.
MAX_PROJECT_PAGE = 100
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

Sleep = Callable[[float], None]


class TokenBucket:
    """A token bucket: at most ``rate`` acquisitions per second, bursts of ``capacity``.

    ``rate`` of None or 0 disables the limit. Thread-safe.
    """

    def __init__(
        self,
        rate: float | None,
        *,
        capacity: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        self.rate = rate if rate and rate > 0 else None
        self.capacity = max(capacity, 1.0)
        self._tokens = self.capacity
        self._clock = clock
        self._sleep = sleep
        self._last = clock()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take one token, sleeping until one is available; return the seconds slept."""
        if self.rate is None:
            return 0.0
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
            self._last = now
            wait = 0.0 if self._tokens >= 1.0 else (1.0 - self._tokens) / self.rate
            if wait > 0:
                self._sleep(wait)
                self._tokens = 1.0
                self._last = self._clock()
            self._tokens -= 1.0
            return wait


def _azul_message(response: httpx.Response) -> str:
    """Azul's ``Message`` (or the body's text) of an error response, on one line."""
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        body = None
    if isinstance(body, Mapping):
        message = body.get("Message") or body.get("message")
        if message:
            return " ".join(str(message).split())
    text = " ".join(response.text.split()) if response.text else ""
    return text[:300] or response.reason_phrase or f"HTTP {response.status_code}"


def parse_retry_after(value: str | None, *, default: float) -> float:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date)."""
    if value is None or not value.strip():
        return default
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    return max(0.0, when.timestamp() - time.time())


def to_fetch_url(repository_url: str) -> str:
    """Turn an Azul ``/repository/files/...`` URL into its JSON ``/fetch/...`` flavour.

    The query is kept byte for byte; a URL already on ``/fetch/`` is returned unchanged.
    """
    parts = urlsplit(repository_url)
    path = parts.path
    marker = "/repository/files/"
    index = path.rfind(marker)
    if index < 0:
        raise AzulError(f"not an Azul repository file URL: {repository_url}")
    if not path[:index].endswith("/fetch"):
        path = f"{path[:index]}/fetch{path[index:]}"
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, parts.fragment))


class AzulClient:
    """A polite, retrying client of one Azul deployment and catalog.

    Parameters
    ----------
    base_url
        Service root, e.g. ``https://service.azul.data.humancellatlas.org``.
    catalog
        Catalog name; None uses the service's ``default_catalog`` (checked on first use).
    transport
        An httpx transport (tests); None uses the network.
    timeout
        Seconds for connecting and for each read.
    requests_per_second
        Token-bucket rate; None or 0 disables the limit (tests).
    max_attempts
        Tries per request for 429, 5xx and network errors.
    backoff, max_backoff
        Exponential backoff for 5xx: ``backoff * 2**i`` seconds (plus up to 25 % jitter),
        at most ``max_backoff``.
    retry_after_default, max_retry_after
        Wait for a 429 without ``Retry-After``, and the cap on any ``Retry-After``.
    sleep
        The sleep function (tests pass a recorder so nothing really waits).
    page_size
        ``size`` of project pages (Azul allows at most 100).
    """

    def __init__(
        self,
        *,
        base_url: str = DEFAULT_URL,
        catalog: str | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 60.0,
        requests_per_second: float | None = 2.0,
        max_attempts: int = 5,
        backoff: float = 1.0,
        max_backoff: float = 30.0,
        retry_after_default: float = 30.0,
        max_retry_after: float = 300.0,
        max_fetch_hops: int = 20,
        sleep: Sleep = time.sleep,
        page_size: int = MAX_PROJECT_PAGE,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._pinned_catalog = catalog or None
        self._catalog: str | None = None
        self._catalogs: CatalogList | None = None
        self.max_attempts = max(1, max_attempts)
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.retry_after_default = retry_after_default
        self.max_retry_after = max_retry_after
        self.max_fetch_hops = max_fetch_hops
        self.page_size = min(max(1, page_size), MAX_PROJECT_PAGE)
        self.sleep = sleep
        self.bucket = TokenBucket(requests_per_second, sleep=sleep)
        self._http = httpx.Client(
            transport=transport,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 15.0)),
            headers={"User-Agent": "bioblocks-server (HCA importer)", "Accept": "application/json"},
            follow_redirects=False,
        )

    @classmethod
    def from_settings(
        cls, settings: Settings, *, catalog: str | None = None, **options: Any
    ) -> AzulClient:
        """A client for ``settings.hca_url``/``hca_catalog`` (``catalog`` overrides the latter)."""
        options.setdefault("requests_per_second", settings.hca_requests_per_second)
        options.setdefault("timeout", settings.hca_timeout_s)
        return cls(
            base_url=settings.hca_url, catalog=catalog or settings.hca_catalog, **options
        )

    # ---- lifecycle ------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> AzulClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- HTTP with retries ----------------------------------------------------------------

    def _url(self, path_or_url: str) -> str:
        if path_or_url.startswith(("http://", "https://")):
            return path_or_url
        return f"{self.base_url}/{path_or_url.lstrip('/')}"

    def backoff_delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt + 1`` (exponential, with jitter)."""
        delay = min(self.max_backoff, self.backoff * (2**attempt))
        return delay * (1.0 + 0.25 * random.random())

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        stream: bool = False,
        accept_status: frozenset[int] = frozenset(),
        what: str = "",
        follow_redirects: bool = False,
    ) -> httpx.Response:
        """Send one request with throttling and retries; return the response.

        ``params`` must be parameters Azul knows (:data:`ALLOWED_PARAMS`). Statuses in
        ``accept_status`` are returned as they are; other 4xx raise (see the module
        docstring). With ``stream=True`` the caller must close the response.
        ``what`` names the object for error messages ("project X", "file Y").
        """
        if params:
            unknown = sorted(set(params) - ALLOWED_PARAMS)
            if unknown:
                raise ValueError(f"Azul does not accept the query parameters {unknown}")
        url = self._url(path_or_url)
        last_error = ""
        for attempt in range(self.max_attempts):
            self.bucket.acquire()
            request = self._http.build_request(method, url, params=params, headers=headers)
            try:
                response = self._http.send(
                    request, stream=stream, follow_redirects=follow_redirects
                )
            except httpx.TransportError as exc:  # timeouts, refused/reset connections
                last_error = f"{type(exc).__name__}: {exc}"
                logger.warning("HCA request %s failed (%s); retrying", url, last_error)
                if attempt + 1 < self.max_attempts:
                    self.sleep(self.backoff_delay(attempt))
                continue
            status = response.status_code
            if status in accept_status or status < 400:
                return response
            if status == 429 or status >= 500:
                if stream:
                    response.read()
                response.close()
                last_error = f"HTTP {status}: {_azul_message(response)}"
                if attempt + 1 >= self.max_attempts:
                    break
                if status == 429:
                    wait = min(
                        self.max_retry_after,
                        parse_retry_after(
                            response.headers.get("Retry-After"), default=self.retry_after_default
                        ),
                    )
                    logger.info("HCA service throttled us; waiting %.1f s", wait)
                else:
                    wait = self.backoff_delay(attempt)
                    logger.warning("HCA service answered %s; retrying in %.1f s", status, wait)
                self.sleep(wait)
                continue
            if stream:
                response.read()
            response.close()
            self._raise_client_error(response, what=what)
        raise AzulError(
            f"the HCA service at {self.base_url} did not answer {what or url} after "
            f"{self.max_attempts} attempts (last: {last_error}); try again later",
            status=None,
        )

    def _raise_client_error(self, response: httpx.Response, *, what: str) -> None:
        status = response.status_code
        message = _azul_message(response)
        subject = what or str(response.request.url)
        if status == 404 and message.startswith("Catalog name"):
            raise InputError(
                f"the HCA service has no catalog {self._pinned_catalog or ''!r}: "
                f"{self._valid_catalogs_hint()}",
                field="catalog",
            )
        if status == 404:
            raise NotFoundError(f"{subject} was not found on the HCA service: {message}")
        if status == 400:
            raise InputError(f"the HCA service rejected the request for {subject}: {message}")
        raise AzulError(f"the HCA service refused {subject} (HTTP {status}): {message}", status=status)

    def _valid_catalogs_hint(self) -> str:
        try:
            names = self.catalogs().public_hca
        except Exception:  # the hint is best effort; the original error matters
            return "set BIOBLOCKS_HCA_CATALOG to a valid catalog or leave it unset"
        return (
            f"valid catalogs are {', '.join(names) or '(none)'}; use one of them with "
            "--catalog / BIOBLOCKS_HCA_CATALOG, or leave it unset for the default"
        )

    def get_json(
        self, path_or_url: str, *, params: Mapping[str, str] | None = None, what: str = ""
    ) -> Any:
        """GET a JSON document (with retries); raise :class:`AzulError` if it is not JSON."""
        response = self.request("GET", path_or_url, params=params, what=what)
        try:
            return response.json()
        except ValueError as exc:
            raise AzulError(
                f"the HCA service answered {what or path_or_url} with non-JSON content",
                status=response.status_code,
            ) from exc

    # ---- catalogs -------------------------------------------------------------------------

    def catalogs(self) -> CatalogList:
        """``/index/catalogs`` (fetched once per client)."""
        if self._catalogs is None:
            body = self.get_json("/index/catalogs", what="the catalog list")
            if not isinstance(body, Mapping):
                raise AzulError("the HCA service's catalog list is not a JSON object")
            self._catalogs = parse_catalogs(body)
        return self._catalogs

    @property
    def catalog(self) -> str:
        """The catalog in use: the pinned one (checked to exist) or the service's default."""
        if self._catalog is not None:
            return self._catalog
        listing = self.catalogs()
        pinned = self._pinned_catalog
        if pinned:
            if pinned not in listing:
                raise InputError(
                    f"the HCA service has no catalog {pinned!r}; valid catalogs are "
                    f"{', '.join(listing.public_hca) or '(none)'} (use --catalog or "
                    "BIOBLOCKS_HCA_CATALOG, or leave it unset for the default)",
                    field="catalog",
                )
            if pinned not in listing.public_hca:
                logger.warning("catalog %r is internal or not an HCA catalog", pinned)
            self._catalog = pinned
        else:
            public = listing.public_hca
            if listing.default and listing.default in public:
                self._catalog = listing.default
            elif public:
                self._catalog = public[0]
            else:
                raise AzulError(f"the HCA service at {self.base_url} lists no public HCA catalog")
        return self._catalog

    # ---- projects -------------------------------------------------------------------------

    def _check_same_service(self, url: str) -> None:
        if urlsplit(url).netloc != urlsplit(self.base_url).netloc:
            raise AzulError(f"the HCA service sent a link to another host: {url}")

    def paginate(self, path: str, *, params: Mapping[str, str]) -> Iterator[Mapping[str, Any]]:
        """Yield every hit of a search, following ``pagination.next`` unchanged."""
        url: str | None = self._url(path)
        page_params: Mapping[str, str] | None = params
        seen: set[str] = set()
        while url:
            body = self.get_json(url, params=page_params, what="the project list")
            if not isinstance(body, Mapping):
                raise AzulError("the HCA service answered a search with something else than an object")
            for hit in body.get("hits") or []:
                if isinstance(hit, Mapping):
                    yield hit
            pagination = body.get("pagination")
            next_url = pagination.get("next") if isinstance(pagination, Mapping) else None
            if not next_url:
                return
            if next_url in seen:
                raise AzulError(f"the HCA service's pagination loops at {next_url}")
            seen.add(next_url)
            self._check_same_service(next_url)
            url, page_params = next_url, None

    def search_projects(self, *, filters: Mapping[str, Any] | None = None) -> Iterator[Project]:
        """Yield every project matching Azul ``filters`` (``{field: {"is": [...]}}``)."""
        params = {
            "catalog": self.catalog,
            "filters": json.dumps(dict(filters or {}), separators=(",", ":")),
            "size": str(self.page_size),
            "sort": "projectTitle",
            "order": "asc",
        }
        for hit in self.paginate("/index/projects", params=params):
            try:
                yield parse_project(hit)
            except ValueError as exc:
                logger.warning("skipping an unreadable project hit: %s", exc)

    def project(self, project_id: str) -> Project:
        """One project by UUID (``/index/projects/{id}``); NotFoundError if unknown."""
        body = self.get_json(
            f"/index/projects/{project_id}",
            params={"catalog": self.catalog},
            what=f"HCA project {project_id}",
        )
        if not isinstance(body, Mapping):
            raise AzulError(f"the HCA service answered project {project_id} with something else")
        return parse_project(body)

    def find_project(self, ident: str) -> Project:
        """A project by UUID or exact short name (``projectShortname``, Azul's ``project`` filter)."""
        ident = ident.strip()
        if not ident:
            raise InputError("give an HCA project UUID or short name", field="project")
        if _UUID.match(ident):
            return self.project(ident.lower())
        for project in self.search_projects(filters={"project": {"is": [ident]}}):
            if project.short_name == ident:
                return project
        raise NotFoundError(
            f"no HCA project with short name {ident!r} in catalog {self.catalog}; "
            "`bioblocks hca projects` lists them"
        )

    # ---- files ----------------------------------------------------------------------------

    def signed_url(self, file: MatrixFile) -> str:
        """Resolve a file to its signed storage URL through ``/fetch/repository/files``.

        Loops while Azul answers ``Status: 301`` (sleeping ``Retry-After``), at most
        ``max_fetch_hops`` times; 404 → :class:`NotFoundError` (no download available).
        """
        url = to_fetch_url(file.repository_url(base_url=self.base_url, catalog=self.catalog))
        what = f"HCA file {file.name} ({file.uuid}, version {file.version})"
        for _hop in range(self.max_fetch_hops):
            self._check_same_service(url)
            body = self.get_json(url, what=what)
            status = body.get("Status") if isinstance(body, Mapping) else None
            location = body.get("Location") if isinstance(body, Mapping) else None
            if status == 302 and isinstance(location, str) and location:
                return location
            if status == 301 and isinstance(location, str) and location:
                wait = min(
                    self.max_retry_after,
                    parse_retry_after(str(body.get("Retry-After") or 0), default=1.0),
                )
                logger.info("%s is being prepared; retrying in %.1f s", what, wait)
                if wait > 0:
                    self.sleep(wait)
                url = to_fetch_url(location)
                continue
            raise AzulError(f"unexpected answer from the HCA service for {what}: {body!r}")
        raise AzulError(
            f"{what} was still not ready after {self.max_fetch_hops} redirects; try again later"
        )

    @contextmanager
    def open_download(
        self, url: str, *, headers: Mapping[str, str] | None = None
    ) -> Iterator[httpx.Response]:
        """Stream a signed storage URL exactly as given (no Azul credentials are sent).

        Yields the response for statuses 200, 206, 400, 403, 404 and 416; the caller
        decides (resume, re-sign, fail). Other failures retry or raise like :meth:`request`.
        """
        response = self.request(
            "GET",
            url,
            headers={**(headers or {}), "Accept": "*/*"},
            stream=True,
            accept_status=frozenset({400, 403, 404, 416}),
            what="the matrix download",
            follow_redirects=True,
        )
        try:
            yield response
        finally:
            response.close()

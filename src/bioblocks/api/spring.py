"""SPRING viewer compatibility (``spec/spring-viewer-contract.md``).

* ``GET /spring/<file>``: the viewer's static files from ``Settings.spring_viewer_dir``
  (404 when unset). ``/spring/datasets/...`` is left to :mod:`bioblocks.api.files`, which
  serves the data directory's ``datasets/`` tree there and at ``/datasets/...``, so data
  URLs the viewer builds relative to its page resolve either way.
* ``POST /spring/cgi-bin/<script>``: the three read-only scripts the viewer needs,
  answered natively in Python (nothing is ever executed): ``load_counts.py``,
  ``grab_one_gene.py`` and ``get_gene_zscores.from_hdf5.dev.py``. Every other
  ``cgi-bin`` path is a 404. None of the answered scripts writes, so ``mutability.txt``
  (read-only datasets) holds for every dataset: no request can modify an analysis.
  When ``Settings.public_reads`` is false, CGI requests need a token like every read.
  Bounded work: a form body above ``Settings.max_body_bytes`` is a 413; a selection is
  deduplicated and must lie within the subplot's cells (else a 422 naming the field);
  z-scores read at most about ``2 × min(selected cells, genes)`` HDF5 datasets; and the
  computation stops at its next chunk when the client disconnects. The scripts only adapt
  form fields to the readers of :mod:`bioblocks.analysis.spring_folder`.
* ``GET /analysis/{id}/files``: the files of an analysis that exist, for the built-in page.

CGI path parameters carry the raw strings from the viewer's ``location.search``. They are
percent-decoded once, joined to the page directory ``/spring/`` and normalised as a
browser would; the result must lie under ``/datasets/`` or ``/spring/datasets/`` and is
then resolved with :func:`bioblocks.storage.safe_resolve` inside the data directory's
``datasets/`` folder (symlinks leaving it are refused).
"""

from __future__ import annotations

import asyncio
import logging
import posixpath
import threading
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote

import numpy as np
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import FileResponse, PlainTextResponse
from starlette.concurrency import run_in_threadpool
from starlette.convertors import Convertor, register_url_convertor

from ..config import Settings
from ..errors import Cancelled, NotFoundError
from ..pipeline.folders import dataset_of, folders_of
from ..storage import PathOutsideDataDir, safe_resolve
from ..store import READ_FILTER, Store
from ._body import read_body
from .auth import require_read
from .errors import ERROR_RESPONSES, JSON, dumps, eve_error

logger = logging.getLogger(__name__)

router = APIRouter()

_TEXT_PLAIN = "text/plain; charset=utf-8"

#: Content types of the viewer's static files, by suffix; anything else is binary. A fixed
#: table (not ``mimetypes``) so no data file is ever sent with a script type.
_STATIC_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".txt": _TEXT_PLAIN,
    ".csv": "text/csv; charset=utf-8",
    ".tsv": "text/tab-separated-values; charset=utf-8",
    ".png": "image/png",
    ".gif": "image/gif",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".svg": "image/svg+xml",
    ".ico": "image/x-icon",
    ".wav": "audio/wav",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".ttf": "font/ttf",
}


class _ViewerAssetConvertor(Convertor[str]):
    """A path below ``/spring/`` that is neither ``cgi-bin/...`` nor ``datasets/...``."""

    regex = r"(?!cgi-bin(?:/|$))(?!datasets(?:/|$)).*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("spring_viewer_asset", _ViewerAssetConvertor())


class _CgiError(Exception):
    """A CGI request that cannot be answered: becomes an error envelope."""

    def __init__(self, status: int, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


def _settings(request: Request) -> Settings:
    return request.app.state.settings


# ---- static viewer files ---------------------------------------------------------------


@router.api_route(
    "/spring/{path:spring_viewer_asset}", methods=["GET", "HEAD"], include_in_schema=False
)
async def viewer_file(path: str, request: Request) -> Response:
    """Return one static file of the SPRING viewer (query strings such as ``?_=`` ignored)."""
    viewer_dir = _settings(request).spring_viewer_dir
    if viewer_dir is None:
        return eve_error(
            404, "The SPRING viewer is not installed: set BIOBLOCKS_SPRING_VIEWER_DIR to its folder."
        )
    try:
        target = safe_resolve(Path(viewer_dir).expanduser(), path)
    except PathOutsideDataDir:
        return eve_error(404, f"No file {path!r} in the SPRING viewer.")
    if not target.is_file():
        return eve_error(404, f"No file {path!r} in the SPRING viewer.")
    media_type = _STATIC_TYPES.get(target.suffix.lower(), "application/octet-stream")
    return FileResponse(
        target, media_type=media_type, headers={"X-Content-Type-Options": "nosniff"}
    )


# ---- CGI scripts -----------------------------------------------------------------------


def viewer_path(data_dir: Path, raw: str) -> Path:
    """Map a viewer CGI path parameter (relative to ``/spring/``) into the data directory.

    The value is percent-decoded once and resolved as a browser resolves a relative URL
    against ``/spring/``; it must land under ``/datasets/`` or ``/spring/datasets/``.
    Returns the real path inside ``<data_dir>/datasets`` (it may not exist). Raises
    :class:`bioblocks.storage.PathOutsideDataDir` for anything else.
    """
    text = unquote(raw)
    if "\x00" in text or "\\" in text or text.startswith("/") or len(text) > 4096:
        raise PathOutsideDataDir("malformed or absolute path")
    url = posixpath.normpath(posixpath.join("/spring/", text))
    for prefix in ("/spring/datasets/", "/datasets/"):
        if url.startswith(prefix):
            rest = url[len(prefix) :]
            break
    else:
        raise PathOutsideDataDir("path is not inside the datasets tree")
    root = Path(data_dir) / "datasets"
    return safe_resolve(root, rest)


def _form(body: bytes) -> dict[str, str]:
    """Parse a form body like ``cgi.FieldStorage``: blank fields are absent, first value wins."""
    text = body.decode("utf-8", errors="replace")
    return {key: values[0] for key, values in parse_qs(text, keep_blank_values=False).items()}


def _required(form: dict[str, str], name: str) -> str:
    value = form.get(name)
    if value is None:
        raise _CgiError(400, f"Form field {name!r} is missing or empty.")
    return value


def _folder(data_dir: Path, form: dict[str, str], name: str) -> Path:
    raw = _required(form, name)
    try:
        folder = viewer_path(data_dir, raw)
    except PathOutsideDataDir as exc:
        raise _CgiError(404, f"{name} {raw!r} is not a dataset folder of this server.") from exc
    if not folder.is_dir() or not _visible_folder(data_dir, folder):
        raise _CgiError(404, f"{name} {raw!r} is not a dataset folder of this server.")
    return folder


def _visible_folder(data_dir: Path, folder: Path) -> bool:
    """False for a folder of a dataset the request may not see (the store's read filter)."""
    hidden = READ_FILTER.get()
    root = (Path(data_dir) / "datasets").resolve()
    parts = folder.relative_to(root).parts if folder.is_relative_to(root) else ()
    return hidden is None or not parts or hidden.visible("dataset", {"_id": parts[0]})


def load_counts(data_dir: Path, form: dict[str, str], cancel: Cancel | None = None) -> str:
    """``load_counts.py``: return every line of ``<base_dir>/genes.txt``, each ending in ``\\n``."""
    from ..analysis.spring_folder import read_genes

    return "".join(f"{gene}\n" for gene in read_genes(_folder(data_dir, form, "base_dir")))


def grab_one_gene(data_dir: Path, form: dict[str, str], cancel: Cancel | None = None) -> str:
    """``grab_one_gene.py``: one gene's normalised value per subplot cell.

    Returns N lines (N = length of ``<sub_dir>/cell_filter.npy``), each ending in ``\\n``:
    ``0`` for a zero, otherwise the value with one decimal.
    """
    from ..analysis.spring_folder import gene_values, read_cell_filter

    base_dir = _folder(data_dir, form, "base_dir")
    sub_dir = _folder(data_dir, form, "sub_dir")
    gene = _required(form, "gene")
    values = gene_values(base_dir, gene, read_cell_filter(sub_dir))
    if values.size == 0:
        return ""
    text = np.char.mod("%.1f", values)
    text[values == 0] = "0"
    return "\n".join(text.tolist()) + "\n"


class Cancel(threading.Event):
    """A cancellation flag for one CGI request: set when the client disconnects.

    :meth:`check`, called between chunks of work, then raises
    :class:`~bioblocks.errors.Cancelled`, so a thread-pool computation stops within one
    chunk instead of running on after its client has gone.
    """

    def check(self) -> None:
        """Raise :class:`~bioblocks.errors.Cancelled` if the request was cancelled."""
        if self.is_set():
            raise Cancelled("the client disconnected")


#: Characters of a selection parsed per chunk (bounds the memory of one parse step).
SELECTION_CHUNK_CHARS = 1 << 20


def _selection(
    form: dict[str, str], name: str, n_cells: int, cancel: Cancel
) -> np.ndarray | None:
    """Parse a comma-separated selection of subplot cells; return its unique indices, sorted.

    Repeated indices count once. The text is parsed in chunks of about
    :data:`SELECTION_CHUNK_CHARS` characters, each deduplicated at once, so memory stays
    bounded by the subplot's cell count. Returns None for an absent or empty field.
    Raises a 400 for text that is not integers and a 422 (naming the field) for an
    index outside ``0..n_cells-1``.
    """
    raw = form.get(name)
    if raw is None:
        return None
    unique = np.empty(0, dtype=np.int64)
    start = 0
    while start < len(raw):
        cancel.check()
        end = raw.find(",", start + SELECTION_CHUNK_CHARS)
        end = len(raw) if end < 0 else end
        piece = raw[start:end]
        start = end + 1
        try:
            cells = np.array(
                [int(part) for part in piece.split(",") if part.strip()], dtype=np.int64
            )
        except ValueError as exc:
            raise _CgiError(
                400, f"{name} must be comma-separated cell indices, e.g. '0,4,17'."
            ) from exc
        except OverflowError:
            cells = np.array([-1], dtype=np.int64)
        if cells.size and (cells.min() < 0 or cells.max() >= n_cells):
            raise _CgiError(
                422,
                f"{name} holds indices outside 0..{n_cells - 1} (the subplot has "
                f"{n_cells} cells); select cells of this subplot.",
                field=name,
            )
        unique = np.union1d(unique, cells)
    return unique if unique.size else None


def get_gene_zscores(
    data_dir: Path, form: dict[str, str], cancel: Cancel | None = None
) -> str:
    """``get_gene_zscores.from_hdf5.dev.py``: the genes most enriched in a selection.

    The scores of :func:`bioblocks.analysis.spring_folder.gene_zscores` for the cells of
    ``selected_cells`` (against ``compared_cells`` when given), each cell counted once.
    Returns the top 1000 names joined by ``\\n``, a tab, the scores (3 decimals) joined by
    ``\\n``, and a final ``\\n``. Raises Cancelled when ``cancel`` is set mid-way.
    """
    from ..analysis.spring_folder import gene_zscores, read_cell_filter

    cancel = cancel or Cancel()
    base_dir = _folder(data_dir, form, "base_dir")
    sub_dir = _folder(data_dir, form, "sub_dir")
    n_cells = read_cell_filter(sub_dir).size
    selected = _selection(form, "selected_cells", n_cells, cancel)
    compared = _selection(form, "compared_cells", n_cells, cancel)
    if selected is None:
        raise _CgiError(400, "Form field 'selected_cells' is missing or empty: select cells.")
    names, scores = gene_zscores(base_dir, sub_dir, selected, compared, check=cancel.check)
    return "\n".join(names) + "\t" + "\n".join(f"{v:.3f}" for v in scores.tolist()) + "\n"


_CGI_SCRIPTS = {
    "load_counts.py": load_counts,
    "grab_one_gene.py": grab_one_gene,
    "get_gene_zscores.from_hdf5.dev.py": get_gene_zscores,
}


@router.api_route(
    "/spring/cgi-bin/{script:path}",
    methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
    include_in_schema=False,
    dependencies=[Depends(require_read)],
)
async def cgi_script(script: str, request: Request) -> Response:
    """Answer one of the viewer's read-only CGI requests (POST, form-encoded) as plain text.

    The body is refused with 413 above ``Settings.max_body_bytes``. The work runs in the
    thread pool while the client's connection is watched; when the client disconnects,
    the computation is cancelled at its next chunk and nothing is answered.
    """
    handler = _CGI_SCRIPTS.get(script)
    if handler is None:
        return eve_error(404, f"cgi-bin/{script} is not provided by this server.")
    if request.method != "POST":
        return eve_error(405, f"cgi-bin/{script} accepts POST only.")
    settings = _settings(request)
    form = _form(await read_body(request, limit=settings.max_body_bytes))
    cancel = Cancel()
    work = asyncio.ensure_future(
        run_in_threadpool(handler, settings.resolved_data_dir, form, cancel)
    )
    watch = asyncio.ensure_future(_cancel_on_disconnect(request, cancel))
    try:
        await asyncio.wait({work, watch}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watch.cancel()
    try:
        text = await work
    except Cancelled:
        logger.info("cgi-bin/%s: the client disconnected; the work was stopped", script)
        return Response(status_code=499)
    except _CgiError as exc:
        logger.info("cgi-bin/%s answered %d: %s", script, exc.status, exc.message)
        extra = {"_issues": {exc.field: exc.message}} if exc.field else None
        return eve_error(exc.status, exc.message, extra=extra)
    return PlainTextResponse(text, media_type=_TEXT_PLAIN)


async def _cancel_on_disconnect(request: Request, cancel: Cancel) -> None:
    """Wait for the client's ``http.disconnect`` (the body is already read), then cancel."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            cancel.set()
            return


# ---- the files of an analysis (for the built-in page) -------------------------------------


def _href(path: Path, data_dir: Path) -> str:
    """The URL path (no leading slash, percent-encoded) of ``path`` inside the data directory."""
    return "/".join(quote(part, safe="") for part in path.relative_to(data_dir).parts)


def analysis_files(store: Store, data_dir: Path, analysis_id: str) -> dict[str, Any]:
    """Return the downloadable files of an analysis that exist, in the format's order.

    ``{"_id", "_items": [{"name", "href", "size"}], "coordinates": href | None, "subplot":
    href | None, "annotations": [...], "_links"}``: hrefs are relative to the root, as Eve's;
    ``annotations`` are its saved annotations, categorical tracks beside the folder's
    (:func:`bioblocks.api.annotations.annotation_items`); ``subplot`` is the
    SPRING subplot folder when it holds ``run_info.json``, ``coordinates`` the file of the
    2-D layout (:data:`bioblocks.analysis.spring_folder.DOWNLOADS` lists the files).
    Raises NotFoundError for an unknown analysis.
    """
    from ..analysis.spring_folder import DOWNLOADS, LAYOUTS, RUN_INFO

    doc = store.get("analysis", analysis_id)
    if doc is None:
        raise NotFoundError(f"Analysis {analysis_id!r} does not exist.")
    dataset = dataset_of(store, doc)
    answer: dict[str, Any] = {
        "_id": analysis_id, "_items": [], "coordinates": None, "subplot": None, "annotations": [],
        "_links": {"self": {"title": "files", "href": f"analysis/{quote(analysis_id)}/files"}},
    }
    if dataset is None:
        return answer
    try:
        folder, sub = folders_of(data_dir, doc, dataset)
    except PathOutsideDataDir:
        return answer
    process = str(doc.get("processType"))
    sub_names, main_names = DOWNLOADS.get(process, ((), ()))
    if process == "SPRING" and (sub / RUN_INFO).is_file():
        answer["subplot"] = _href(sub, data_dir)
    paths = [sub / n for n in sub_names] + [folder / n for n in main_names]
    for path in paths:
        if path.is_file():
            answer["_items"].append(
                {"name": path.name, "href": _href(path, data_dir), "size": path.stat().st_size}
            )
    layout = LAYOUTS.get(process)
    answer["coordinates"] = next((i["href"] for i in answer["_items"] if i["name"] == layout), None)
    from .annotations import annotation_items

    answer["annotations"] = annotation_items(store, analysis_id)
    return answer


@router.get(
    "/analysis/{analysis_id}/files", dependencies=[Depends(require_read)], tags=["files"],
    responses={200: {"description": "The analysis's files (`_items`: name, href, size), its "
                     "SPRING subplot folder and its layout file"}, **ERROR_RESPONSES},
)
async def get_analysis_files(analysis_id: str, request: Request) -> Response:
    """List the downloadable files of an analysis (those of its folder format that exist);
    an analysis with a layout also lists its Vitessce links under ``_links.visualization``
    (:func:`bioblocks.api.vitessce.visualization_links`)."""
    data_dir = _settings(request).resolved_data_dir
    answer = await run_in_threadpool(analysis_files, request.app.state.store, data_dir, analysis_id)
    if answer["coordinates"] is not None:  # an analysis with a layout opens in Vitessce too
        from .vitessce import visualization_links

        doc = request.app.state.store.get("analysis", analysis_id) or {}
        if links := visualization_links(request, doc):
            answer["_links"]["visualization"] = links
    return Response(dumps(answer), media_type=JSON)


__all__ = [
    "analysis_files", "get_gene_zscores", "grab_one_gene", "load_counts", "router", "viewer_path",
]

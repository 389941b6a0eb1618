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
  computation stops at its next chunk when the client disconnects.

CGI path parameters carry the raw strings from the viewer's ``location.search``. They are
percent-decoded once, joined to the page directory ``/spring/`` and normalised as a
browser would; the result must lie under ``/datasets/`` or ``/spring/datasets/`` and is
then resolved with :func:`bioblocks.storage.safe_resolve` inside the data directory's
``datasets/`` folder (symlinks leaving it are refused).
"""

from __future__ import annotations

import asyncio
import json
import logging
import posixpath
import threading
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

import h5py
import numpy as np
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import FileResponse, PlainTextResponse
from starlette.concurrency import run_in_threadpool
from starlette.convertors import Convertor, register_url_convertor

from ..config import Settings
from ..storage import PathOutsideDataDir, safe_resolve
from ._body import read_body
from .auth import require_read
from .errors import eve_error

logger = logging.getLogger(__name__)

router = APIRouter()

#: Most genes returned by ``get_gene_zscores`` (as the original script).
ZSCORE_TOP_GENES = 1000

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
    if not folder.is_dir():
        raise _CgiError(404, f"{name} {raw!r} is not a dataset folder of this server.")
    return folder


def _file(folder: Path, name: str, field: str) -> Path:
    path = folder / name
    if not path.is_file():
        raise _CgiError(404, f"{field} has no {name}.")
    return path


def _cell_filter(sub_dir: Path) -> np.ndarray:
    cell_filter = np.load(_file(sub_dir, "cell_filter.npy", "sub_dir"), allow_pickle=False)
    return np.asarray(cell_filter, dtype=np.int64).ravel()


def _read_genes(base_dir: Path) -> list[str]:
    text = _file(base_dir, "genes.txt", "base_dir").read_text(encoding="utf-8")
    return text.splitlines()


def load_counts(data_dir: Path, form: dict[str, str], cancel: Cancel | None = None) -> str:
    """``load_counts.py``: return every line of ``<base_dir>/genes.txt``, each ending in ``\\n``."""
    base_dir = _folder(data_dir, form, "base_dir")
    return "".join(f"{gene}\n" for gene in _read_genes(base_dir))


def _gene_dataset(group: Any, gene: str) -> np.ndarray | None:
    if not gene or "/" in gene or gene.startswith("."):
        return None
    item = group.get(gene) if group is not None else None
    if not isinstance(item, h5py.Dataset):
        return None
    return item[()]


def grab_one_gene(data_dir: Path, form: dict[str, str], cancel: Cancel | None = None) -> str:
    """``grab_one_gene.py``: one gene's normalised value per subplot cell.

    Returns N lines (N = length of ``<sub_dir>/cell_filter.npy``), each ending in ``\\n``:
    ``0`` for a zero, otherwise the value with one decimal.
    """
    base_dir = _folder(data_dir, form, "base_dir")
    sub_dir = _folder(data_dir, form, "sub_dir")
    gene = _required(form, "gene")
    cell_filter = _cell_filter(sub_dir)
    with h5py.File(_file(base_dir, "counts_norm_sparse_genes.hdf5", "base_dir"), "r") as hf:
        counts = _gene_dataset(hf.get("counts"), gene)
        cell_ix = _gene_dataset(hf.get("cell_ix"), gene)
        ncells = int(hf.attrs["ncells"])
    if counts is None or cell_ix is None:
        raise _CgiError(404, f"Gene {gene!r} is not in this dataset.")
    if cell_filter.size and (cell_filter.min() < 0 or cell_filter.max() >= ncells):
        raise _CgiError(
            409, "cell_filter.npy refers to cells outside counts_norm_sparse_genes.hdf5."
        )
    values = np.zeros(ncells, dtype=np.float64)
    values[np.asarray(cell_ix, dtype=np.int64)] = counts
    values = values[cell_filter]
    if values.size == 0:
        return ""
    text = np.char.mod("%.1f", values)
    text[values == 0] = "0"
    return "\n".join(text.tolist()) + "\n"


class _Cancelled(Exception):
    """The client went away: the computation stopped between two chunks."""


class Cancel:
    """A cancellation flag for one CGI request, checked between chunks of work.

    :meth:`check` raises :class:`_Cancelled` once :meth:`set` was called (the endpoint
    calls it when the client disconnects), so a thread-pool computation stops within one
    chunk instead of running on after its client has gone.
    """

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        """Ask the computation to stop."""
        self._event.set()

    def is_set(self) -> bool:
        """True once :meth:`set` was called."""
        return self._event.is_set()

    def check(self) -> None:
        """Raise :class:`_Cancelled` if the request was cancelled."""
        if self._event.is_set():
            raise _Cancelled


#: Characters of a selection parsed per chunk (bounds the memory of one parse step).
SELECTION_CHUNK_CHARS = 1 << 20
#: Rows (or genes) read from the HDF5 files between two cancellation checks.
WORK_CHUNK = 256


def _selection(
    form: dict[str, str], name: str, n_cells: int, cancel: Cancel | None = None
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
        if cancel is not None:
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


def _means_by_cells(
    hf: h5py.File, selections: list[np.ndarray], n_genes: int, cancel: Cancel
) -> list[np.ndarray]:
    """Per-gene mean over each selection of main-matrix rows, read row by row.

    Reads two datasets per row of ``counts_norm_sparse_cells.hdf5``.
    """
    counts, gene_ix = hf["counts"], hf["gene_ix"]
    out = []
    for rows in selections:
        total = np.zeros(n_genes, dtype=np.float64)
        for start in range(0, rows.size, WORK_CHUNK):
            cancel.check()
            chunk = rows[start : start + WORK_CHUNK].tolist()
            ix = [np.asarray(gene_ix[str(r)][()], dtype=np.int64).ravel() for r in chunk]
            values = [np.asarray(counts[str(r)][()], dtype=np.float64).ravel() for r in chunk]
            if not ix:
                continue
            flat_ix, flat_values = np.concatenate(ix), np.concatenate(values)
            if flat_ix.size != flat_values.size or (
                flat_ix.size and (flat_ix.min() < 0 or flat_ix.max() >= n_genes)
            ):
                raise _CgiError(409, "counts_norm_sparse_cells.hdf5 has malformed rows.")
            total += np.bincount(flat_ix, weights=flat_values, minlength=n_genes)
        out.append(total / max(rows.size, 1))
    return out


class _NoGenesFile(Exception):
    """The per-gene file cannot serve this request (missing, or a gene not in it)."""


def _means_by_genes(
    path: Path, genes: list[str], selections: list[np.ndarray], cancel: Cancel
) -> list[np.ndarray]:
    """Per-gene mean over each selection, read gene by gene from the per-gene file.

    Reads two datasets per gene of ``counts_norm_sparse_genes.hdf5`` whatever the size of
    the selections. Raises :class:`_NoGenesFile` when a gene is not in that file.
    """
    with h5py.File(path, "r") as hf:
        ncells = int(hf.attrs["ncells"])
        counts, cell_ix = hf.get("counts"), hf.get("cell_ix")
        if counts is None or cell_ix is None:
            raise _NoGenesFile
        weights = np.zeros((ncells, len(selections)), dtype=np.float64)
        for k, rows in enumerate(selections):
            if rows.size and rows.max() >= ncells:
                raise _CgiError(
                    409, "cell_filter.npy refers to cells outside counts_norm_sparse_genes.hdf5."
                )
            weights[:, k] = np.bincount(rows, minlength=ncells)
        totals = np.zeros((len(genes), len(selections)), dtype=np.float64)
        for g, gene in enumerate(genes):
            if g % WORK_CHUNK == 0:
                cancel.check()
            values, ix = _gene_dataset(counts, gene), _gene_dataset(cell_ix, gene)
            if values is None or ix is None:
                raise _NoGenesFile
            ix = np.asarray(ix, dtype=np.int64).ravel()
            values = np.asarray(values, dtype=np.float64).ravel()
            if ix.size != values.size or (ix.size and (ix.min() < 0 or ix.max() >= ncells)):
                raise _CgiError(409, f"counts_norm_sparse_genes.hdf5 is malformed for {gene!r}.")
            totals[g] = values @ weights[ix]
    return [totals[:, k] / max(rows.size, 1) for k, rows in enumerate(selections)]


def _selection_means(
    base_dir: Path, genes: list[str], selections: list[np.ndarray], cancel: Cancel
) -> list[np.ndarray]:
    """Per-gene mean expression over each selection of main-matrix rows (bounded work).

    Small selections are read row by row from ``counts_norm_sparse_cells.hdf5``; once the
    selections hold more rows than there are genes, the gene-by-gene file
    ``counts_norm_sparse_genes.hdf5`` is read instead, so one request reads at most about
    ``2 × min(rows, genes)`` datasets.
    """
    total_rows = sum(int(rows.size) for rows in selections)
    genes_path = base_dir / "counts_norm_sparse_genes.hdf5"
    if total_rows > len(genes) and genes_path.is_file():
        try:
            return _means_by_genes(genes_path, genes, selections, cancel)
        except _NoGenesFile:
            logger.info("%s cannot serve z-scores; reading cells instead", genes_path)
    path = _file(base_dir, "counts_norm_sparse_cells.hdf5", "base_dir")
    with h5py.File(path, "r") as hf:
        if int(hf.attrs["ngenes"]) != len(genes):
            raise _CgiError(409, "genes.txt and counts_norm_sparse_cells.hdf5 disagree.")
        try:
            return _means_by_cells(hf, selections, len(genes), cancel)
        except KeyError as exc:
            raise _CgiError(
                409, "cell_filter.npy refers to cells missing from counts_norm_sparse_cells.hdf5."
            ) from exc


def get_gene_zscores(
    data_dir: Path, form: dict[str, str], cancel: Cancel | None = None
) -> str:
    """``get_gene_zscores.from_hdf5.dev.py``: the genes most enriched in a selection.

    Score per gene: ``(mean_selected - mean) / (std + 0.02)`` with ``mean`` and ``std`` from
    ``<sub_dir>/color_stats.json``, minus the same for ``compared_cells`` when given. Each
    selection counts every cell once (repeated indices are ignored). Returns the top 1000
    names joined by ``\\n``, a tab, the scores (3 decimals) joined by ``\\n``, and a final
    ``\\n``. Raises :class:`_Cancelled` when ``cancel`` is set mid-way.
    """
    cancel = cancel or Cancel()
    base_dir = _folder(data_dir, form, "base_dir")
    sub_dir = _folder(data_dir, form, "sub_dir")
    genes = _read_genes(base_dir)
    stats = json.loads(_file(sub_dir, "color_stats.json", "sub_dir").read_text("utf-8"))
    cell_filter = _cell_filter(sub_dir)
    selected = _selection(form, "selected_cells", cell_filter.size, cancel)
    compared = _selection(form, "compared_cells", cell_filter.size, cancel)
    if selected is None:
        raise _CgiError(400, "Form field 'selected_cells' is missing or empty: select cells.")
    try:
        means = np.array([stats[g][0] for g in genes], dtype=np.float64)
        stds = np.array([stats[g][1] for g in genes], dtype=np.float64)
    except (KeyError, IndexError, TypeError) as exc:
        raise _CgiError(409, f"color_stats.json has no valid entry for gene {exc}.") from exc
    if cell_filter.size and cell_filter.min() < 0:
        raise _CgiError(409, "cell_filter.npy holds negative cell indices.")
    selections = [cell_filter[selected]]
    if compared is not None:
        selections.append(cell_filter[compared])
    averages = _selection_means(base_dir, genes, selections, cancel)
    scores = (averages[0] - means) / (stds + 0.02)
    if compared is not None:
        scores -= (averages[1] - means) / (stds + 0.02)
    order = np.argsort(-scores, kind="stable")[:ZSCORE_TOP_GENES]
    names = "\n".join(genes[i] for i in order.tolist())
    values = "\n".join(f"{scores[i]:.3f}" for i in order.tolist())
    return f"{names}\t{values}\n"


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
    except _Cancelled:
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


__all__ = ["router", "viewer_path", "load_counts", "grab_one_gene", "get_gene_zscores"]

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

CGI path parameters carry the raw strings from the viewer's ``location.search``. They are
percent-decoded once, joined to the page directory ``/spring/`` and normalised as a
browser would; the result must lie under ``/datasets/`` or ``/spring/datasets/`` and is
then resolved with :func:`bioblocks.storage.safe_resolve` inside the data directory's
``datasets/`` folder (symlinks leaving it are refused).
"""

from __future__ import annotations

import json
import logging
import posixpath
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

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


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


def load_counts(data_dir: Path, form: dict[str, str]) -> str:
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


def grab_one_gene(data_dir: Path, form: dict[str, str]) -> str:
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


def _selection(form: dict[str, str], name: str, n_cells: int) -> np.ndarray | None:
    raw = form.get(name)
    if raw is None:
        return None
    try:
        cells = np.array([int(part) for part in raw.split(",") if part.strip()], dtype=np.int64)
    except ValueError as exc:
        raise _CgiError(
            400, f"{name} must be comma-separated cell indices, e.g. '0,4,17'."
        ) from exc
    if cells.size and (cells.min() < 0 or cells.max() >= n_cells):
        raise _CgiError(400, f"{name} holds indices outside 0..{n_cells - 1}.")
    return cells if cells.size else None


def _mean_expression(
    hf: h5py.File, rows: np.ndarray, n_genes: int
) -> np.ndarray:
    """Mean of the normalised expression per gene over main-matrix ``rows``."""
    total = np.zeros(n_genes, dtype=np.float64)
    counts, gene_ix = hf["counts"], hf["gene_ix"]
    for row in rows.tolist():
        key = str(row)
        np.add.at(total, np.asarray(gene_ix[key][()], dtype=np.int64), counts[key][()])
    return total / max(len(rows), 1)


def get_gene_zscores(data_dir: Path, form: dict[str, str]) -> str:
    """``get_gene_zscores.from_hdf5.dev.py``: the genes most enriched in a selection.

    Score per gene: ``(mean_selected - mean) / (std + 0.02)`` with ``mean`` and ``std`` from
    ``<sub_dir>/color_stats.json``, minus the same for ``compared_cells`` when given.
    Returns the top 1000 names joined by ``\\n``, a tab, the scores (3 decimals) joined
    by ``\\n``, and a final ``\\n``.
    """
    base_dir = _folder(data_dir, form, "base_dir")
    sub_dir = _folder(data_dir, form, "sub_dir")
    genes = _read_genes(base_dir)
    stats = json.loads(_file(sub_dir, "color_stats.json", "sub_dir").read_text("utf-8"))
    cell_filter = _cell_filter(sub_dir)
    selected = _selection(form, "selected_cells", cell_filter.size)
    compared = _selection(form, "compared_cells", cell_filter.size)
    if selected is None:
        raise _CgiError(400, "Form field 'selected_cells' is missing or empty: select cells.")
    try:
        means = np.array([stats[g][0] for g in genes], dtype=np.float64)
        stds = np.array([stats[g][1] for g in genes], dtype=np.float64)
    except (KeyError, IndexError, TypeError) as exc:
        raise _CgiError(409, f"color_stats.json has no valid entry for gene {exc}.") from exc
    path = _file(base_dir, "counts_norm_sparse_cells.hdf5", "base_dir")
    with h5py.File(path, "r") as hf:
        if int(hf.attrs["ngenes"]) != len(genes):
            raise _CgiError(409, "genes.txt and counts_norm_sparse_cells.hdf5 disagree.")
        try:
            scores = (_mean_expression(hf, cell_filter[selected], len(genes)) - means) / (
                stds + 0.02
            )
            if compared is not None:
                scores -= (_mean_expression(hf, cell_filter[compared], len(genes)) - means) / (
                    stds + 0.02
                )
        except KeyError as exc:
            raise _CgiError(
                409, "cell_filter.npy refers to cells missing from counts_norm_sparse_cells.hdf5."
            ) from exc
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
    """Answer one of the viewer's read-only CGI requests (POST, form-encoded) as plain text."""
    handler = _CGI_SCRIPTS.get(script)
    if handler is None:
        return eve_error(404, f"cgi-bin/{script} is not provided by this server.")
    if request.method != "POST":
        return eve_error(405, f"cgi-bin/{script} accepts POST only.")
    form = _form(await request.body())
    data_dir = _settings(request).resolved_data_dir
    try:
        text = await run_in_threadpool(handler, data_dir, form)
    except _CgiError as exc:
        logger.info("cgi-bin/%s answered %d: %s", script, exc.status, exc.message)
        return eve_error(exc.status, exc.message)
    return PlainTextResponse(text, media_type=_TEXT_PLAIN)


__all__ = ["router", "viewer_path", "load_counts", "grab_one_gene", "get_gene_zscores"]

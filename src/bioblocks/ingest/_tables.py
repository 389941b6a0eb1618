"""Genes/features and cells/barcodes side files of Matrix Market inputs."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import IngestError
from ._library import text_lines
from ._streams import Budget, read_all

NAME_COLUMNS = (
    "featurename",
    "gene_name",
    "gene_names",
    "gene_symbol",
    "gene_symbols",
    "symbol",
    "name",
    "gene",
    "genes",
)
ID_COLUMNS = ("featurekey", "gene_id", "gene_ids", "id", "ensembl_id", "accession")
CELL_HEADERS = (
    "cellkey",
    "barcode",
    "barcodes",
    "cell",
    "cell_id",
    "cellid",
    "cell_name",
    "obs_names",
)

GENE_FILES = ("genes", "features", "gene_names", "genes_names")
CELL_FILES = ("cells", "barcodes", "cell_names")
SIDE_SUFFIXES = (".tsv", ".tsv.gz", ".txt", ".txt.gz")


@dataclass(kw_only=True)
class GeneTable:
    """Gene names (and ids when the file has them), in file order."""

    names: np.ndarray
    ids: np.ndarray | None


@dataclass(kw_only=True)
class CellTable:
    """Cell barcodes and per-cell metadata columns (``None`` without a header row)."""

    barcodes: np.ndarray
    obs: pd.DataFrame | None


def find_side_file(directory: Path, prefix: str, bases: tuple[str, ...]) -> Path | None:
    """Return the first existing ``<prefix><sep><base><suffix>`` in ``directory``, or None.

    ``prefix`` is the matrix file's name without ``.mtx[.gz]`` (and without a
    trailing ``matrix``), so ``matrix.mtx.gz`` finds ``genes.tsv.gz`` and
    ``P9A.mtx`` finds ``P9A.genes.tsv`` or ``P9A_genes.txt`` (else plain ``genes.tsv``).
    """
    prefixes = [f"{prefix}{sep}" for sep in ("", ".", "_", "-")] if prefix else []
    for head in [*prefixes, ""]:
        for base in bases:
            for suffix in SIDE_SUFFIXES:
                candidate = directory / f"{head}{base}{suffix}"
                if candidate.is_file():
                    return candidate
    return None


def _has_header(n_lines: int, dims: tuple[int, ...], first: str, known: tuple[str, ...]) -> bool:
    plain = n_lines in dims
    headed = (n_lines - 1) in dims
    if plain and headed:
        return first.split("\t")[0].strip().lower() in known
    return headed and not plain


def _check_lines(
    lines: list[str], dims: tuple[int, ...], known: tuple[str, ...], *, what: str, name: str
) -> tuple[bool, int]:
    """Return whether a side file's ``lines`` start with a header (a first field in
    ``known``) and how many ``what`` names they hold; refuse an empty file and a number of
    names that matches neither dimension of the matrix."""
    if not lines:
        raise IngestError(f"the {what}s file is empty", field=name)
    header = _has_header(len(lines), dims, lines[0], known)
    n = len(lines) - int(header)
    if n not in dims:
        raise IngestError(
            f"{n:,} {what} names match neither dimension of the "
            f"{' × '.join(f'{d:,}' for d in dims)} matrix; check that it belongs to this matrix",
            field=name,
        )
    return header, n


def _read_side_file(path: Path, *, budget: Budget, dims: tuple[int, ...], what: str) -> bytes:
    """Return the bytes of a side file, refusing one with more lines than the matrix can name.

    The lines are counted on the bytes (one header line allowed), before the
    text is decoded and split, so a long file costs no more than its bytes.
    """
    raw = read_all(path, budget=budget)
    n_lines = raw.count(b"\n") + (0 if raw.endswith(b"\n") or not raw else 1)
    if n_lines > max(dims) + 1:
        raise IngestError(
            f"{n_lines:,} lines of {what} match neither dimension of the "
            f"{' × '.join(f'{d:,}' for d in dims)} matrix; check that it belongs to this matrix",
            field=path.name,
        )
    return raw


def read_genes(path: Path, *, budget: Budget, dims: tuple[int, ...]) -> GeneTable:
    """Read a genes/features file whose length should equal one of ``dims``.

    A ``.txt`` file holds one name per line. A TSV without header (10x
    ``features.tsv``) holds ``id<TAB>name[...]`` or names only; with a header
    (HCA ``genes.tsv``) the name and id columns are found by header name
    (``featurename``/``featurekey``, ``gene_name``/``gene_id``…), else the
    first column holds names. Raises :class:`IngestError`.
    """
    name = path.name
    lines = text_lines(_read_side_file(path, budget=budget, dims=dims, what="gene names"),
                       name=name)
    header, _ = _check_lines(lines, dims, NAME_COLUMNS + ID_COLUMNS, what="gene", name=name)
    if name.removesuffix(".gz").endswith(".txt") and not header:
        return GeneTable(names=np.array([s.strip() for s in lines], dtype=object), ids=None)
    rows = [line.split("\t") for line in lines]
    if header:
        columns = [c.strip().lower() for c in rows[0]]
        rows = rows[1:]
        name_col = next((columns.index(c) for c in NAME_COLUMNS if c in columns), 0)
        id_col = next((columns.index(c) for c in ID_COLUMNS if c in columns), None)
        if id_col == name_col:
            id_col = None
    else:
        width = min(len(r) for r in rows)
        name_col, id_col = (1, 0) if width >= 2 else (0, None)
    try:
        names = np.array([r[name_col].strip() for r in rows], dtype=object)
        ids = None if id_col is None else np.array([r[id_col].strip() for r in rows], dtype=object)
    except IndexError as exc:
        raise IngestError(
            "ragged rows: some lines have fewer columns than others", field=name
        ) from exc
    return GeneTable(names=names, ids=ids)


def _numeric_or_text(column: pd.Series) -> pd.Series:
    try:
        return pd.to_numeric(column)
    except (ValueError, TypeError):
        return column.astype("category") if column.nunique() < max(len(column) // 2, 2) else column


def read_cells(path: Path, *, budget: Budget, dims: tuple[int, ...]) -> CellTable:
    """Read a cells/barcodes file whose length should equal one of ``dims``.

    The first column holds barcodes. With a header row (HCA ``cells.tsv``), the
    other columns become per-cell metadata (numeric where they parse as numbers,
    categorical for repeated text). Raises :class:`IngestError`.
    """
    name = path.name
    raw = _read_side_file(path, budget=budget, dims=dims, what="cell names")
    lines = text_lines(raw, name=name)
    header, n = _check_lines(lines, dims, CELL_HEADERS, what="cell", name=name)
    if not header:
        if b"\t" not in raw and b" " not in raw:
            return CellTable(barcodes=np.array(lines, dtype=object), obs=None)
        return CellTable(
            barcodes=np.array([line.split("\t")[0].strip() for line in lines], dtype=object),
            obs=None,
        )
    try:
        frame = pd.read_csv(
            io.StringIO("\n".join(lines)), sep="\t", dtype=str, keep_default_na=False
        )
    except (pd.errors.ParserError, ValueError) as exc:
        raise IngestError(f"cannot parse the cells table ({exc})", field=name) from exc
    if len(frame) != n:
        raise IngestError("the cells table has ragged rows", field=name)
    barcodes = frame.iloc[:, 0].str.strip().to_numpy(dtype=object)
    obs = frame.iloc[:, 1:].reset_index(drop=True)
    obs.columns = [str(c) for c in obs.columns]
    obs = obs.apply(_numeric_or_text) if len(obs.columns) else None
    return CellTable(barcodes=barcodes, obs=obs)

"""The list commands' rows as a table, TSV and JSON (``bioblocks.output``)."""

from __future__ import annotations

import io
import json
from datetime import datetime

from rich.console import Console

from bioblocks.output import Column, OutputFormat, default_format, render_rows

LONG = "3f0c2a4e-9b1d-4c8e-a7f6-5d2b1e0c9a8f-with-a-long-suffix-that-never-fits-80-columns"
ROWS = [
    {"id": LONG, "name": "a\tname\nwith breaks", "cells": 1817, "files": ["a.loom", "b.h5ad"],
     "created": datetime(2026, 12, 3, 14, 0, 5), "missing": None},
    {"id": "short", "name": "b", "cells": None, "files": [], "created": None, "missing": None},
]
COLUMNS = [Column("id"), Column("name"), Column("cells", justify="right"), Column("files"),
           Column("created"), Column("missing")]


def _render(fmt: OutputFormat | None, stream: io.StringIO | None = None) -> tuple[str, str]:
    out, notes = stream or io.StringIO(), io.StringIO()
    render_rows(ROWS, COLUMNS, fmt, summary="2 thing(s)", out=out,
                notes=Console(file=notes, width=200))
    return out.getvalue(), notes.getvalue()


def test_tsv_has_a_header_and_every_value_whole_on_its_line() -> None:
    out, notes = _render(OutputFormat.tsv)
    lines = out.splitlines()
    assert lines[0].split("\t") == ["id", "name", "cells", "files", "created", "missing"]
    assert lines[1].split("\t") == [LONG, "a name with breaks", "1817", "a.loom; b.h5ad",
                                    "2026-12-03T14:00:05", ""]
    assert lines[2].split("\t") == ["short", "b", "", "", "", ""]
    assert len(lines) == 3
    assert notes.strip() == "2 thing(s)"  # the summary goes to stderr, not among the rows


def test_json_keeps_types() -> None:
    out, _ = _render(OutputFormat.json)
    records = json.loads(out)
    assert records[0] == {"id": LONG, "name": "a\tname\nwith breaks", "cells": 1817,
                          "files": ["a.loom", "b.h5ad"], "created": "2026-12-03T14:00:05",
                          "missing": None}
    assert records[1]["cells"] is None and records[1]["files"] == []


def test_table_has_the_summary_as_title_and_lists_on_lines() -> None:
    out = io.StringIO()
    render_rows(ROWS, COLUMNS, "table", summary="2 thing(s)", out=out)
    text = out.getvalue()
    assert "2 thing(s)" in text and "a.loom" in text and "b.h5ad" in text
    assert any("a.loom" in line and "b.h5ad" not in line for line in text.splitlines())


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_default_is_a_table_on_a_terminal_and_tsv_elsewhere() -> None:
    assert default_format(_Terminal()) is OutputFormat.table
    assert default_format(io.StringIO()) is OutputFormat.tsv
    piped, _ = _render(None)
    assert piped.splitlines()[1].startswith(LONG + "\t")

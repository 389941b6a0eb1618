"""Rows printed by the command line's list commands: a table, TSV or JSON (one home for all three).

``table`` is a rich table for people (the default when stdout is a terminal); ``tsv`` is
one header line and one line per row, every value whole, tab-separated (the default when
stdout is not a terminal, so ``bioblocks dataset list | grep <id>`` finds the id); ``json``
is one array of objects with typed values (numbers stay numbers, lists stay lists).
A summary line ("3 dataset(s)") is the table's title, and goes to stderr for ``tsv`` and
``json`` so stdout holds only the rows.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Literal, TextIO

from rich.console import Console


class OutputFormat(StrEnum):
    """How a list command prints its rows."""

    table = "table"
    tsv = "tsv"
    json = "json"


#: The ``--format`` help text shared by the list commands.
FORMAT_HELP = "Output: table, tsv or json (default: table on a terminal, tsv otherwise)."


@dataclass(frozen=True)
class Column:
    """One column: ``key`` of the row mappings (also the TSV header and JSON key), table label.

    ``show`` turns a value into what the table and TSV print (text, or a list of texts:
    one per line in the table, ``; ``-separated in TSV); JSON keeps the value.
    """

    key: str
    label: str | None = None
    justify: Literal["left", "right"] = "left"
    show: Callable[[Any], Any] | None = None

    @property
    def heading(self) -> str:
        """The table's column heading (the label, else the key)."""
        return self.label or self.key


def default_format(stream: TextIO | None = None) -> OutputFormat:
    """Return ``table`` when ``stream`` (default: stdout) is a terminal, else ``tsv``."""
    stream = stream if stream is not None else sys.stdout
    try:
        return OutputFormat.table if stream.isatty() else OutputFormat.tsv
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return OutputFormat.tsv


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def text(value: Any, *, separator: str = "; ") -> str:
    """Return ``value`` as one line of text: None is empty, lists are joined by ``separator``.

    Tabs and line breaks inside values become spaces, so a TSV cell never splits its line.
    """
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return separator.join(text(item, separator=separator) for item in value)
    if isinstance(value, dict):
        joined = json.dumps(value, default=_json_default, ensure_ascii=False)
    elif isinstance(value, datetime | date):
        joined = value.isoformat()
    else:
        joined = str(value)
    return joined.replace("\t", " ").replace("\r\n", " ").replace("\n", " ").replace("\r", " ")


def _cell(column: Column, value: Any, separator: str) -> str:
    shown = column.show(value) if column.show is not None else value
    return text(shown, separator=separator)


def render_rows(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[Column],
    fmt: OutputFormat | str | None = None,
    *,
    summary: str | None = None,
    out: TextIO | None = None,
    notes: Console | None = None,
) -> None:
    """Write ``rows`` (mappings keyed by the columns' keys) to ``out`` (default: stdout).

    ``fmt`` None picks :func:`default_format`. ``summary`` is the table's title, or a line on
    ``notes`` (default: a stderr console) for ``tsv`` and ``json``. Returns nothing; writes
    only to ``out`` and ``notes``.
    """
    out = out if out is not None else sys.stdout
    chosen = OutputFormat(fmt) if fmt is not None else default_format(out)
    if chosen is OutputFormat.table:
        from rich.table import Table

        table = Table(title=summary)
        for column in columns:
            table.add_column(column.heading, justify=column.justify, overflow="fold")
        for row in rows:
            table.add_row(*(_cell(c, row.get(c.key), "\n") for c in columns))
        Console(file=out).print(table)
        return
    if chosen is OutputFormat.json:
        records = [{c.key: row.get(c.key) for c in columns} for row in rows]
        out.write(json.dumps(records, indent=2, default=_json_default, ensure_ascii=False) + "\n")
    else:
        out.write("\t".join(c.key for c in columns) + "\n")
        for row in rows:
            out.write("\t".join(_cell(c, row.get(c.key), "; ") for c in columns) + "\n")
    out.flush()
    if summary:
        (notes or Console(stderr=True)).print(summary, highlight=False, soft_wrap=True)

"""The command line's progress bar and log lines on one console (``bioblocks.progress``)."""

from __future__ import annotations

import io
import logging

from rich.console import Console

from bioblocks.progress import ConsoleLogHandler, ProgressBar, scaled, stage_key


def test_stage_keys_ignore_counts_but_not_names() -> None:
    assert stage_key("parsed 1,041 cells") == stage_key("parsed 12 cells") == "parsed # cells"
    assert stage_key("force layout 3/200") == "force layout #/#"
    assert stage_key("reading P11A.counts.tsv.gz") != stage_key("reading P12A.counts.tsv.gz")


def _run(console: Console) -> None:
    log = logging.getLogger("tests.progress")
    handler = ConsoleLogHandler(console)
    handler.setFormatter(logging.Formatter("LOG %(message)s"))
    log.addHandler(handler)
    log.propagate = False
    log.setLevel(logging.INFO)
    try:
        with ProgressBar("import", console) as bar:
            part = scaled(bar, 0.0, 0.5)
            part(0.0, "reading a.tsv")
            log.info("reading a.tsv as tsv")
            for cells in (10, 20, 1_030):
                part(cells / 2_000, f"parsed {cells:,} cells")
            bar(0.9, "writing matrix.h5ad")
            log.warning("something to know")
            bar(1.0, "imported")
            log.info("imported 1,030 cells")
    finally:
        log.removeHandler(handler)


def test_one_line_per_stage_with_its_last_message_and_no_repeat_of_a_log_line() -> None:
    out = io.StringIO()
    _run(Console(file=out, width=100))
    assert out.getvalue().splitlines() == [
        "LOG reading a.tsv as tsv",
        "  parsed 1,030 cells",
        "LOG something to know",
        "  writing matrix.h5ad",
        "LOG imported 1,030 cells",
    ]


def test_on_a_terminal_log_lines_are_printed_above_the_live_bar() -> None:
    out = io.StringIO()
    console = Console(file=out, width=100, force_terminal=True, color_system=None)
    _run(console)
    text = out.getvalue()
    assert "LOG reading a.tsv as tsv" in text and "  parsed 1,030 cells" in text
    # rich moved the bar below each printed line: every log line starts on a cleared line
    for line in ("LOG reading a.tsv as tsv", "LOG something to know"):
        before = text[: text.index(line)]
        assert before.endswith("\x1b[2K"), repr(before[-40:])
    assert ProgressBar.active is None


def test_a_log_line_that_names_the_stage_within_it_covers_the_stage() -> None:
    out = io.StringIO()
    console = Console(file=out, width=100)
    handler = ConsoleLogHandler(console)
    with ProgressBar("SPRING", console) as bar:
        bar(0.1, "building the kNN graph")
        handler.emit(logging.LogRecord("x", logging.INFO, __file__, 1,
                                       "SPRING: building the kNN graph", None, None))
        handler.emit(logging.LogRecord("x", logging.INFO, __file__, 1,
                                       "SPRING: clustering the kNN graph", None, None))
        bar(0.5, "clustering the kNN graph")  # logged just before the stage began
        bar(0.9, "writing the SPRING files")
    assert out.getvalue().splitlines() == [
        "SPRING: building the kNN graph",
        "SPRING: clustering the kNN graph",
        "  writing the SPRING files",
    ]

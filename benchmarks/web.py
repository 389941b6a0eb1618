"""Frames per second of the built-in page while panning, at 1,000,000 points.

    .venv/bin/python -m benchmarks.web [--quick] [--points 1000000] [--seconds 4]

What it does, all in one run: builds the example site of the browser tests (real
application under uvicorn, one dataset with a UMAP analysis of N points), opens the
analysis in Debian's headless chromium (WebGL on SwiftShader, the CPU renderer: a
lower bound for a laptop GPU), waits until the points are drawn, then pans for a few
seconds: each animation frame moves the view and redraws, and reads one pixel back so
the frame is really finished before the next one is counted (while the view moves the
page draws a uniform random sample sized to a 33 ms frame budget from the measured cost
of a full frame; on a GPU that is every point). The *baseline* is the
same page and measurement with 10,000 points; the table shows the ratio.
Also reported: the time from opening the analysis to the first drawing (download,
parsing of the CSV, buffer upload).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from tests.web._browser import (
    EMBEDDING_ID,
    build_site,
    chromium_missing,
    launch_browser,
    new_page,
    serve,
)

from benchmarks._common import machine_line, print_table

BASELINE_POINTS = 10_000

_FULL_FRAME = """
() => {
  const plot = window.bioblocksPlot;
  const gl = plot.gl;
  const pixel = new Uint8Array(4);
  const times = [];
  for (let i = 0; i < 3; i++) {
    const start = performance.now();
    plot.render();
    gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, pixel);
    times.push(performance.now() - start);
  }
  return Math.min(...times);
}
"""

_PAN = """
async (seconds) => {
  const plot = window.bioblocksPlot;
  const gl = plot.gl;
  const pixel = new Uint8Array(4);
  const start = performance.now();
  let frames = 0;
  while (performance.now() - start < seconds * 1000) {
    await new Promise((resolve) => requestAnimationFrame(resolve));
    plot.panBy(frames % 200 < 100 ? 3 : -3, 1);
    plot.render();
    gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, pixel);
    frames += 1;
  }
  return { frames, elapsed: (performance.now() - start) / 1000 };
}
"""


def measure(browser: object, n_points: int, seconds: float) -> tuple[float, float, float, int]:
    """Return (seconds to first drawing, ms of one frame of all points, frames per second
    while panning, points drawn per panning frame) for ``n_points``."""
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "files"
        build_site(data_dir, n_cells=50, embedding_cells=n_points)
        with serve(data_dir) as url, new_page(browser) as page:
            page.goto(f"{url}/ui/")
            button = page.locator(f'[data-analysis="{EMBEDDING_ID}"]')
            button.wait_for()
            start = time.perf_counter()
            button.click()
            page.wait_for_function(
                f"() => window.bioblocksPlot && window.bioblocksPlot.count === {n_points}",
                timeout=300_000,
            )
            page.evaluate("() => new Promise((r) => requestAnimationFrame(() => r(null)))")
            load = time.perf_counter() - start
            full_ms = page.evaluate(_FULL_FRAME)
            result = page.evaluate(_PAN, seconds)
            drawn = page.evaluate("() => window.bioblocksPlot.lastDrawn")
            if page.errors:
                raise RuntimeError(f"the page logged errors: {page.errors}")
    return load, full_ms, result["frames"] / result["elapsed"], drawn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--quick", action="store_true", help="pan for 2 s only")
    args = parser.parse_args()
    reason = chromium_missing()
    if reason:
        raise SystemExit(reason)
    seconds = 2.0 if args.quick else args.seconds
    print(machine_line())
    print("renderer: headless chromium, WebGL on SwiftShader (CPU); one gl.POINTS draw per frame")
    with launch_browser() as browser:
        base = measure(browser, BASELINE_POINTS, seconds)
        big = measure(browser, args.points, seconds)
    print_table(
        ["points", "first drawing s", "full frame ms", "fps panning", "points per panning frame",
         "fps vs baseline"],
        [
            [f"{BASELINE_POINTS:,} (baseline)", base[0], base[1], base[2], base[3], 1.0],
            [f"{args.points:,}", big[0], big[1], big[2], big[3], big[2] / base[2]],
        ],
        title="Panning the WebGL scatter plot (a frame budget of 33 ms: while the view moves, "
        "a uniform sample sized to it is drawn; at rest, all points)",
    )


if __name__ == "__main__":
    main()

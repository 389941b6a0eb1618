"""Vitessce in real chromium, served by this server with no CDN (``/vitessce/``, the bundle
``bioblocks/web/vitessce/build.sh`` makes from Vitessce's npm package): the HPC SPRING
analysis with a t-SNE and a UMAP of it (``hpc_family``) opened from its configuration, a
scatterplot per embedding with every cell, its cells coloured by the analysis's own
colours, the cell sets, the gene list and a heatmap of the highly variable genes."""

from __future__ import annotations

import io
import json
import os
import re
from typing import Any

import numpy as np
import pytest

from bioblocks.api.vitessce import VITESSCE_DIST

from ._browser import launch_browser, new_page, require_chromium, serve

pytestmark = pytest.mark.browser


def _require_bundle() -> None:
    if (VITESSCE_DIST / "entry.js").is_file():
        return
    reason = ("the Vitessce page is not built: run `bash src/bioblocks/web/vitessce/build.sh` "
              "(node and npm; CI does this in .ci/run)")
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


def _colour_pixels(png: bytes, rgb: list[int], *, tolerance: int = 40) -> int:
    """How many pixels of a PNG lie within ``tolerance`` (sum of channel differences) of ``rgb``."""
    from PIL import Image

    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)
    return int((np.abs(pixels - np.array(rgb, dtype=np.int16)).sum(axis=2) <= tolerance).sum())


def test_analysis_opens_in_vitessce(hpc_family: Any) -> None:
    require_chromium()
    _require_bundle()
    import anndata

    from bioblocks.pipeline.vitessce import vitessce_store

    store_dir = vitessce_store(hpc_family.store, hpc_family.settings, hpc_family.spring_id)
    adata = anndata.read_zarr(store_dir)
    n_hvg = int(adata.var["highly_variable"].sum())
    config_url = f"/analysis/{hpc_family.spring_id}/vitessce.json"
    with serve(hpc_family.settings.data_dir) as base, launch_browser() as browser, \
            new_page(browser, width=1600, height=1100) as page:
        fetched: list[str] = []
        refused: list[str] = []
        page.on("request", lambda r: fetched.append(r.url))
        page.on("response", lambda r: refused.append(f"{r.status} {r.url}") if r.status >= 400
                else None)
        page.goto(f"{base}/vitessce/?config={config_url}")
        page.wait_for_function(
            "() => /cells × [\\d,]+ genes/.test(document.body.innerText)"
            " && !document.body.innerText.includes('Loading')", timeout=120_000)
        text = page.evaluate("() => document.body.innerText")
        for title in ("Scatterplot (SPRING)", "Scatterplot (t-SNE)", "Scatterplot (UMAP)",
                      "Cell Sets", "Gene List", "Heatmap"):
            assert title in text, title
        assert re.findall(r"^([\d,]+) cells$", text, re.M) == ["4,790"] * 3, text[:300]
        assert f"4,790 cells × {n_hvg:,} genes" in text, text[-300:]
        for name in ("library", "Leiden cluster", "Louvain cluster", "28,205 genes"):
            assert name in text
        # nothing went wrong but what the page refuses on purpose: Vitessce's look-ups on
        # its own hosts (connect-src 'self'), and zarr's probes of metadata files a format 2
        # store does not have (404s, listed below)
        blocked = [e for e in page.errors if "Content Security Policy" in e and base not in e]
        others = [e for e in page.errors if e not in blocked
                  and not e.startswith(("Failed to load resource: the server responded with a "
                                        "status of 404", "TypeError: Failed to fetch"))]
        assert others == [], others
        assert sum(e.startswith("TypeError: Failed to fetch") for e in page.errors) <= len(blocked)
        probes = ("/.zarray", "/.zgroup", "/.zattrs", "/zarr.json")
        assert all(r.startswith("404 ") and r.endswith(probes) for r in refused), refused
        # nothing but this server: the bundle, the configuration and the store's files
        outside = {url for url in fetched if not url.startswith((base, f"blob:{base}"))}
        assert all(any(url in e for e in blocked) for url in outside), outside
        assert any("/vitessce/adata.zarr/obsm/X_tsne/" in url for url in fetched)
        # the cells are coloured by the first cell sets (library), in the analysis's colours
        config = page.evaluate("() => window.vitessceConfig")
        assert config == json.loads(page.evaluate(
            f"async () => JSON.stringify(await (await fetch('{config_url}')).json())"))
        plot = page.locator(".vitessce-container .react-grid-item").first.screenshot()
        library = [c["color"] for c in config["coordinationSpace"]["obsSetColor"]["A"]
                   if c["path"][0] == "library"]
        assert len(library) == 4
        for rgb in library:
            assert _colour_pixels(plot, rgb) >= 50, rgb

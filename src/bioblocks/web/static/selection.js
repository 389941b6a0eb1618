// What the selected cells become outside the plot: a CSV of their barcodes, and a saved
// annotation (POST /annotation) that the page then shows as a categorical track.
import * as api from "./api.js";
import { csvText, downloadText } from "./explore.js";

const $ = (id) => document.getElementById(id);

/**
 * The track naming each cell, for the barcodes file: a track refused as a colouring with a
 * distinct label per cell (one called like a barcode or cell first), or null when the
 * analysis records none. Returns [name, { levels, track }].
 */
function barcodeTrack(view) {
  const unique = Object.entries(view.refused).filter(([, { levels }]) => levels === view.n);
  const named = (name) => Number(!/barcode|cell/i.test(name));
  unique.sort(([a], [b]) => named(a) - named(b));
  return unique.length ? unique[0] : null;
}

/**
 * Wire the selection's barcode download and its "save as annotation" form. `ctx.view()` is
 * the open analysis, `ctx.selectedCells()` the selected indices (or null),
 * `ctx.reloadTracks(view, name)` reads the tracks again and colours by `name`.
 */
export function setupSelectionFiles(ctx) {
  const status = $("annotation-status");

  /** Download the selected cells as CSV: `cell` (their index) and their barcodes. */
  function downloadSelection() {
    const view = ctx.view();
    const cells = ctx.selectedCells();
    if (!cells) {
      status.textContent = "Select cells first (box or lasso).";
      return;
    }
    const named = barcodeTrack(view);
    const header = named ? ["cell", named[0]] : ["cell"];
    const labels = named ? named[1].track.label_list : null;
    const rows = Array.from(cells, (i) => (labels ? [i, labels[i]] : [i]));
    const file = `${view.analysis.name || view.analysis._id} selection.csv`.replace(/[^\w .-]+/g, "_");
    downloadText(file, csvText(header, rows));
    status.textContent = named ? ""
      : "This analysis records no cell barcodes: the file lists the cells' indices.";
  }

  /** Save the selection as an annotation: one category (the name typed) of the selected cells. */
  async function saveAnnotation() {
    const view = ctx.view();
    const cells = ctx.selectedCells();
    const name = $("annotation-name").value.trim();
    const category = $("annotation-category").value.trim();
    if (!cells) {
      status.textContent = "Select cells first (box or lasso).";
      return;
    }
    if (!api.getToken()) {
      status.textContent = "Saving needs an API token: enter it at the top of the page.";
      return;
    }
    status.textContent = "Saving…";
    try {
      const saved = await api.postJSON("/annotation", {
        analysis: view.analysis._id,
        name,
        categories: [{ name: category, color: "#d47800" }],
        cells: { [category]: Array.from(cells) },
      });
      status.dataset.annotation = saved._id;
      // the annotation is a categorical track of these cells now (served merged into
      // categorical_coloring_data.json): read the tracks again and colour by it
      await ctx.reloadTracks(view, name);
      status.textContent = `Saved “${name}” (${ctx.formatCount(cells.length)} cells): it is a track now.`;
    } catch (error) {
      status.textContent = `Could not save the annotation: ${error.message}`;
    }
  }

  $("selection-download").addEventListener("click", downloadSelection);
  $("annotation-form").addEventListener("submit", (event) => {
    event.preventDefault();
    saveAnnotation();
  });
}

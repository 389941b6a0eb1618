// Exploring an analysis: the labels of a track at its groups' centres, the hover tooltip,
// the layouts (SPRING, t-SNE, UMAP) of the same cells, and CSV files made in the page.

/**
 * The centre of each label's cells in a layout: Map label → [x, y, count], x and y the
 * means of the cells' coordinates (`positions` holds x,y pairs in cell order).
 */
export function centroids(positions, labels) {
  const sums = new Map();
  for (let i = 0; i < labels.length; i++) {
    let sum = sums.get(labels[i]);
    if (!sum) sums.set(labels[i], (sum = [0, 0, 0]));
    sum[0] += positions[2 * i];
    sum[1] += positions[2 * i + 1];
    sum[2] += 1;
  }
  for (const sum of sums.values()) {
    sum[0] /= sum[2];
    sum[1] /= sum[2];
  }
  return sums;
}

/**
 * Text labels over the plot, one per group, each at its centroid: DOM elements in
 * `container` (a layer above the canvas, no pointer events), moved on every frame.
 */
export class PlotLabels {
  constructor(container, scatter) {
    this.container = container;
    this.scatter = scatter;
    this.items = [];
  }

  /** Show one label per entry of `groups` (Map label → [x, y, count]); empty clears. */
  set(groups) {
    this.items = [...groups].map(([label, [x, y]]) => {
      const node = document.createElement("span");
      node.className = "plot-label";
      node.textContent = label;
      node.dataset.label = label;
      return { node, x, y };
    });
    this.container.replaceChildren(...this.items.map((item) => item.node));
    this.place();
  }

  clear() {
    this.set(new Map());
  }

  /** Put every label at its centroid's pixel (centred there); call after each render. */
  place() {
    for (const { node, x, y } of this.items) {
      const [px, py] = this.scatter.toScreen(x, y);
      node.style.transform = `translate(${px.toFixed(1)}px, ${py.toFixed(1)}px) translate(-50%, -50%)`;
    }
  }
}

/**
 * The cell drawn nearest CSS pixel (px, py) of the canvas, within `radius` pixels, or -1.
 * A linear scan of the positions in data space (a million cells in a few milliseconds).
 */
export function nearestCell(scatter, px, py, radius) {
  const [x, y] = scatter.toData(px, py);
  const r = radius / scatter.view.zoom;
  const pos = scatter.positions;
  let best = -1, bestD = r * r;
  for (let i = 0; i < scatter.count; i++) {
    const dx = pos[2 * i] - x;
    if (dx > r || dx < -r) continue;
    const dy = pos[2 * i + 1] - y;
    const d = dx * dx + dy * dy;
    if (d <= bestD) { bestD = d; best = i; }
  }
  return best;
}

/**
 * What the tooltip says of cell `i`: [name, value] pairs, the categorical tracks (those
 * offered for colouring, then those refused, such as barcodes), the continuous tracks and
 * the gene the plot is coloured by.
 */
export function cellFacts(view, i) {
  const facts = [["Cell", String(i)]];
  for (const [name, track] of Object.entries(view.categorical)) facts.push([name, track.label_list[i]]);
  for (const [name, { track }] of Object.entries(view.refused)) facts.push([name, track.label_list[i]]);
  for (const [name, values] of view.continuous) facts.push([name, formatNumber(values[i])]);
  if (view.gene) facts.push([view.gene.name, formatNumber(view.gene.values[i])]);
  return facts;
}

function formatNumber(v) {
  if (!Number.isFinite(v)) return String(v);
  return Math.abs(v) >= 1000 ? Math.round(v).toLocaleString("en-US") : v.toFixed(2);
}

/** Show `facts` in the tooltip element at CSS pixel (px, py) of the plot; null hides it. */
export function showTooltip(tooltip, facts, px, py) {
  if (!facts) {
    tooltip.hidden = true;
    return;
  }
  const rows = facts.map(([name, value]) => {
    const row = document.createElement("div");
    const key = document.createElement("span");
    key.className = "key";
    key.textContent = name;
    const val = document.createElement("span");
    val.textContent = value;
    row.append(key, val);
    return row;
  });
  tooltip.replaceChildren(...rows);
  tooltip.hidden = false;
  // below right of the pointer, or on the other side where the plot ends
  const parent = tooltip.parentElement;
  const left = px + 12 + tooltip.offsetWidth <= parent.clientWidth ? px + 12 : px - 12 - tooltip.offsetWidth;
  const top = py + 12 + tooltip.offsetHeight <= parent.clientHeight ? py + 12 : py - 12 - tooltip.offsetHeight;
  tooltip.style.left = `${Math.round(Math.max(0, left))}px`;
  tooltip.style.top = `${Math.round(Math.max(0, top))}px`;
}

/**
 * The layouts of one set of cells among a dataset's analyses: the SPRING analysis `root`
 * and every ready t-SNE/UMAP analysis computed from it (`sourceOf(a) === root`). A t-SNE or
 * UMAP analysis built on a SPRING analysis lays out that analysis's subplot cells in the
 * same order (line i of its output is line i of `coordinates.txt`), so a cell is the same
 * index in each of them: colours and selections carry over by index.
 */
export function layoutFamily(analyses, root, sourceOf) {
  return analyses.filter((a) => (a.processType === "SPRING" ? a._id === root : sourceOf(a) === root));
}

/** A CSV line of `values` (quoted where needed, RFC 4180). */
function csvLine(values) {
  return values.map((value) => {
    const text = value === null || value === undefined ? "" : String(value);
    return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  }).join(",");
}

/** CSV text of a header and rows (arrays of values), one line each, "\n"-terminated. */
export function csvText(header, rows) {
  return [header, ...rows].map(csvLine).join("\n") + "\n";
}

/**
 * Offer `text` as a file download: a Blob behind a temporary `<a download>` clicked by the
 * page (no data: URL, nothing inline, so the page's Content-Security-Policy allows it).
 */
export function downloadText(filename, text, type = "text/csv") {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

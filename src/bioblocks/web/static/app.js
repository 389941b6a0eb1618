// The built-in page: datasets with their analyses and jobs, and an analysis viewer.
import * as api from "./api.js";
import {
  EXPRESSION, VIRIDIS, colorsForValues, parseCellFilter, parseContinuousTracks,
  parseCoordinates, parseHex, quantile,
} from "./data.js";
import { Scatter } from "./scatter.js";
import {
  PlotLabels, cellFacts, centroids, layoutFamily, nearestCell, showTooltip,
} from "./explore.js";
import { setupDiffexp } from "./diffexp.js";
import { setupSelectionFiles } from "./selection.js";

const $ = (id) => document.getElementById(id);
const JOB_POLL_MS = 2000;
const DIM = [0.88, 0.88, 0.88];
const KIND_LABELS = { SPRING: "SPRING", TSNE: "t-SNE", UMAP: "UMAP" };

const state = {
  datasets: [],
  jobs: [],
  pollTimer: null,
  view: null, // the open analysis: see openAnalysis
  scatter: null,
  labels: null, // PlotLabels over the plot
  diffexp: null, // the DE and marker panels (diffexp.js)
  geneRequest: 0,
};
window.bioblocksState = state; // for tests: the open view (selection, groups, layouts)

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key === "style") Object.assign(node.style, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== undefined && value !== null && value !== false) node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

// ---- datasets, analyses, jobs --------------------------------------------------------

function analysisFolder(datasetId, analysisId) {
  return `/datasets/${encodeURIComponent(datasetId)}/analyses/${encodeURIComponent(analysisId)}`;
}

/**
 * The files of an analysis, from `GET /analysis/{id}/files`: `_items` (name, href, size) in
 * the folder format's order, `coordinates` (the layout file) and `subplot` (a SPRING
 * analysis's subplot folder), hrefs relative to the root.
 */
function analysisFiles(analysis) {
  return api.getJSON(`/analysis/${encodeURIComponent(analysis._id)}/files`);
}

/** URL of a SPRING analysis's subplot folder (spec §10); throws when it has none. */
function subplotFolder(files) {
  if (files.subplot) return `/${files.subplot}`;
  throw new Error(`no SPRING subplot folder (run_info.json) in analysis ${files._id}`);
}

/** The SPRING analysis a t-SNE/UMAP analysis was computed from, or null. */
function sourceSpringId(analysis) {
  const params = analysis.parameters || {};
  if (params.springAnalysis) return params.springAnalysis;
  const match = /([0-9a-f]{8}-[0-9a-f-]{27})/.exec(String(params.input || ""));
  return match ? match[1] : null;
}

function previewUrl(analysis, dataset) {
  const preview = analysis.preview;
  if (preview && /^(\/|https?:)/.test(preview)) return preview;
  if (preview) return `/${preview}`;
  return `${analysisFolder(dataset._id, analysis._id)}/preview.png`;
}

function jobDataset(job) {
  return (job.associatedDataset && job.associatedDataset.dataset) || job.dataset || null;
}

function formatCount(n) {
  return typeof n === "number" ? n.toLocaleString("en-US") : "?";
}

/** Whether this server holds the dataset's imported matrix (the importer records `cells`). */
function hasMatrix(ds) {
  return typeof (ds.matrixInfo || {}).cells === "number";
}

/**
 * Whether an analysis's files are on this server: `status` absent (the old server's
 * documents) or `COMPLETE`. `NO_FILES` marks a record without files (example metadata).
 */
function isReady(analysis) {
  return !analysis.status || analysis.status === "COMPLETE";
}

function unavailableNote(analysis) {
  return analysis.status === "NO_FILES"
    ? "metadata only: its files are not on this server"
    : `not ready (status ${analysis.status})`;
}

function datasetFacts(ds) {
  const info = ds.matrixInfo || {};
  // rowCount = genes and colCount = cells, as the importer writes them (README)
  const cells = info.cells ?? info.colCount;
  const genes = info.genes ?? info.rowCount;
  const species = ds.species ? ds.species.replace(/_/g, " ") : "species unknown";
  const source = ds.hca ? "Human Cell Atlas"
    : info.sourceFormat ? `upload (${info.sourceFormat})`
      : hasMatrix(ds) ? "local" : "no matrix on this server";
  return `${species} · ${formatCount(cells)} cells × ${formatCount(genes)} genes · source: ${source}`;
}

async function loadDatasets() {
  const items = await api.listAll('/dataset?embedded={"analyses":1}');
  for (const ds of items) {
    const ids = (ds.analyses || []).filter((a) => typeof a === "string");
    if (ids.length) {
      const docs = await Promise.all(ids.map((id) => api.getJSON(`/analysis/${id}`).catch(() => null)));
      ds.analyses = (ds.analyses || []).filter((a) => typeof a !== "string").concat(docs.filter(Boolean));
    }
  }
  // records with nothing here (no matrix, no analysis files) after the rest, else the API's order
  const recordOnly = (ds) => !hasMatrix(ds) && !(ds.analyses || []).some(isReady);
  state.datasets = [...items.filter((ds) => !recordOnly(ds)), ...items.filter(recordOnly)];
}

async function loadJobs() {
  state.jobs = await api.listAll('/job?where={"state":{"$in":["queued","running"]}}&max_results=50');
}

function renderJobs(ds) {
  const jobs = state.jobs.filter((job) => jobDataset(job) === ds._id);
  const list = el("ul", { class: "jobs", "aria-label": `Jobs of ${ds.name}` });
  for (const job of jobs) {
    const fraction = Math.max(0, Math.min(1, Number(job.progress) || 0));
    const label = `${KIND_LABELS[job.kind] || job.kind} ${job.state || ""}`;
    list.append(el("li", { "data-job": job._id },
      el("span", {}, label),
      el("progress", { max: "1", value: String(fraction), "aria-label": `${label} progress` }),
      el("span", { class: "muted" }, `${Math.round(fraction * 100)}% ${job.message || ""}`)));
  }
  return list;
}

function renderStartButtons(ds) {
  if (!api.getToken()) return null;
  if (!hasMatrix(ds)) {
    return el("p", { class: "start muted" },
      `No matrix imported: \`bioblocks dataset import FILE… --id ${ds._id}\` adds one.`);
  }
  const spring = (ds.analyses || []).filter((a) => a.processType === "SPRING" && isReady(a));
  const box = el("div", { class: "start" });
  for (const kind of ["SPRING", "TSNE", "UMAP"]) {
    const needsSpring = kind !== "SPRING";
    const disabled = needsSpring && spring.length === 0;
    box.append(el("button", {
      type: "button",
      disabled,
      title: disabled ? "Run SPRING first: t-SNE and UMAP start from its matrix" : null,
      onclick: () => startAnalysis(ds, kind, needsSpring ? spring[spring.length - 1]._id : null),
    }, `Start ${KIND_LABELS[kind]}`));
  }
  return box;
}

async function startAnalysis(ds, kind, springId) {
  showError("");
  const parameters = springId ? { springAnalysis: springId } : {};
  try {
    await api.postJSON("/job", {
      kind,
      associatedDataset: { dataset: ds._id },
      status: "IN_PROGRESS",
      parameters,
    });
    await refreshJobs();
  } catch (error) {
    showError(`Could not start ${KIND_LABELS[kind]} on ${ds.name}: ${error.message}`);
  }
}

function renderDatasets() {
  const list = $("datasets");
  list.replaceChildren();
  $("list-status").textContent = state.datasets.length
    ? `${state.datasets.length} dataset${state.datasets.length === 1 ? "" : "s"}`
    : "No datasets yet.";
  for (const ds of state.datasets) {
    const analyses = el("ul", { class: "analyses", "aria-label": `Analyses of ${ds.name}` });
    for (const analysis of ds.analyses || []) {
      const kind = KIND_LABELS[analysis.processType] || analysis.processType;
      if (!isReady(analysis)) {
        analyses.append(el("li", { class: "analysis-card unavailable", "data-analysis": analysis._id },
          el("div", { class: "card-body", "aria-disabled": "true" },
            el("strong", {}, analysis.name || analysis._id),
            el("span", { class: "muted" }, kind),
            el("span", { class: "note" }, unavailableNote(analysis)))));
        continue;
      }
      const img = el("img", { src: previewUrl(analysis, ds), alt: "", loading: "lazy" });
      img.addEventListener("error", () => { img.hidden = true; });
      analyses.append(el("li", { class: "analysis-card" },
        el("button", {
          type: "button",
          "data-analysis": analysis._id,
          onclick: () => { location.hash = `#/dataset/${ds._id}/analysis/${analysis._id}`; },
        }, img, el("strong", {}, analysis.name || analysis._id),
        el("span", { class: "muted" }, kind))));
    }
    if (!(ds.analyses || []).length) analyses.append(el("li", { class: "muted" }, "No analyses yet."));
    list.append(el("li", { class: "dataset", "data-dataset": ds._id },
      el("h3", {}, ds.name),
      el("p", { class: "facts" }, datasetFacts(ds)),
      analyses,
      el("div", { class: "jobs-box" }, renderJobs(ds)),
      renderStartButtons(ds)));
  }
}

function updateJobViews() {
  for (const item of document.querySelectorAll(".dataset")) {
    const ds = state.datasets.find((d) => d._id === item.dataset.dataset);
    if (ds) item.querySelector(".jobs-box").replaceChildren(renderJobs(ds));
  }
}

async function refreshJobs() {
  const before = new Set(state.jobs.map((job) => job._id));
  await loadJobs();
  const after = new Set(state.jobs.map((job) => job._id));
  const finished = [...before].some((id) => !after.has(id));
  if (finished) {
    await loadDatasets();
    renderDatasets();
  } else {
    updateJobViews();
  }
}

function startPolling() {
  stopPolling();
  state.pollTimer = setInterval(() => {
    refreshJobs().catch((error) => showError(`Could not read jobs: ${error.message}`));
  }, JOB_POLL_MS);
}

function stopPolling() {
  if (state.pollTimer) clearInterval(state.pollTimer);
  state.pollTimer = null;
}

async function showList() {
  $("analysis-view").hidden = true;
  $("list-view").hidden = false;
  try {
    await Promise.all([loadDatasets(), loadJobs()]);
    renderDatasets();
    startPolling();
  } catch (error) {
    $("list-status").textContent = "";
    showError(`Could not list datasets: ${error.message}`);
  }
}

// ---- the analysis view ---------------------------------------------------------------

function findAnalysis(datasetId, analysisId) {
  const ds = state.datasets.find((d) => d._id === datasetId);
  const analysis = ds && (ds.analyses || []).find((a) => a._id === analysisId);
  return { ds, analysis };
}

async function openAnalysis(datasetId, analysisId) {
  stopPolling();
  showError("");
  $("list-view").hidden = true;
  $("analysis-view").hidden = false;
  $("plot-status").textContent = "Loading coordinates…";
  let { ds, analysis } = findAnalysis(datasetId, analysisId);
  try {
    if (!ds) ds = await api.getJSON(`/dataset/${datasetId}`);
    if (!analysis) analysis = await api.getJSON(`/analysis/${analysisId}`);
  } catch (error) {
    showError(`Could not open the analysis: ${error.message}`);
    return;
  }
  const view = {
    ds, analysis, positions: null, n: 0, categorical: {}, continuous: new Map(),
    trackFolder: null, highlight: new Set(), selection: null, selected: 0, cellFilter: undefined,
    colorMode: null, files: [],
    refused: {}, // categorical tracks not offered for colouring: name → { levels, track }
    track: null, // the categorical track last coloured by (labels, DE labels, markers)
    gene: null, // { name, values } while coloured by a gene
    colors: null, // the colours drawn (kept when the layout changes)
    groups: { a: null, b: null }, // kept selections (cell indices) for DE
    markers: new Map(), // track → promise of its markers answer
    family: [], // the layouts of these cells (explore.js layoutFamily)
  };
  state.view = view;
  showAnalysisHead(view);
  ensureScatter();
  state.labels.clear();
  if (!isReady(analysis)) {
    state.scatter.setPoints(new Float32Array(0));
    resetTracks();
    $("downloads").replaceChildren();
    $("layout-box").hidden = true;
    $("plot-status").textContent = `Nothing to draw: this analysis is ${unavailableNote(analysis)}.`;
    return;
  }
  try {
    const layout = await readLayout(analysis);
    view.files = layout.files;
    view.positions = layout.positions;
    view.trackFolder = layout.trackFolder;
  } catch (error) {
    $("plot-status").textContent = "";
    showError(`Could not read the coordinates: ${error.message}`);
    return;
  }
  if (state.view !== view) return;
  view.n = view.positions.length / 2;
  state.scatter.setPoints(view.positions);
  paint(uniformColors(view.n, [0.2, 0.35, 0.6]));
  $("plot-status").textContent = `${formatCount(view.n)} cells`;
  clearSelection();
  state.diffexp.reset();
  renderDownloads(view);
  await Promise.all([loadTracks(view), renderLayouts(view)]);
}

function showAnalysisHead(view) {
  const { analysis, ds } = view;
  $("analysis-title").textContent = analysis.name || analysis._id;
  $("analysis-meta").textContent = `${KIND_LABELS[analysis.processType] || analysis.processType} · ${ds.name}`;
}

/**
 * Read an analysis's layout: `{ files, positions, trackFolder }`, its files (`GET
 * /analysis/{id}/files`), its x,y pairs in cell order and the subplot folder holding its
 * tracks (its own for SPRING, its SPRING analysis's for t-SNE/UMAP; null when unknown).
 */
async function readLayout(analysis) {
  const files = await analysisFiles(analysis);
  const spring = analysis.processType === "SPRING";
  if (!files.coordinates) throw new Error(`analysis ${analysis._id} has no layout file`);
  const positions = parseCoordinates(await api.getText(`/${files.coordinates}`),
    { indexed: spring, flipY: spring });
  let trackFolder = spring ? subplotFolder(files) : null;
  const springId = spring ? null : sourceSpringId(analysis);
  if (springId) {
    trackFolder = await analysisFiles({ _id: springId }).then(subplotFolder).catch(() => null);
  }
  return { files: files._items, positions, trackFolder };
}

/** Draw `colors` (3 floats a cell) and keep them for a change of layout. */
function paint(colors) {
  if (state.view) state.view.colors = colors;
  state.scatter.setColors(colors);
}

/** Offer the other layouts of the same cells (SPRING, t-SNE, UMAP) in #layout-select. */
async function renderLayouts(view) {
  const root = view.analysis.processType === "SPRING" ? view.analysis._id : sourceSpringId(view.analysis);
  let analyses = view.ds.analyses || [];
  if (analyses.some((a) => typeof a === "string")) {
    analyses = await Promise.all(analyses.map((a) => (typeof a === "string"
      ? api.getJSON(`/analysis/${encodeURIComponent(a)}`).catch(() => null) : a)));
  }
  if (state.view !== view) return;
  view.family = root ? layoutFamily(analyses.filter((a) => a && isReady(a)), root, sourceSpringId) : [];
  const select = $("layout-select");
  select.replaceChildren(...view.family.map((a) => el("option", { value: a._id },
    `${KIND_LABELS[a.processType] || a.processType} · ${a.name || a._id}`)));
  select.value = view.analysis._id;
  $("layout-box").hidden = view.family.length < 2;
}

/**
 * Show another layout of the same cells in place: the colours, the track, the selection
 * and the kept groups stay, since cell i is cell i in every layout of the family (see
 * explore.js layoutFamily); the URL follows without reopening the analysis.
 */
async function switchLayout(analysisId) {
  const view = state.view;
  const analysis = view && view.family.find((a) => a._id === analysisId);
  if (!analysis || analysis._id === view.analysis._id) return;
  showError("");
  $("plot-status").textContent = "Loading coordinates…";
  try {
    const layout = await readLayout(analysis);
    if (state.view !== view) return;
    if (layout.positions.length !== view.positions.length) {
      throw new Error(`it has ${formatCount(layout.positions.length / 2)} cells, this view ${formatCount(view.n)}`);
    }
    view.analysis = analysis;
    view.positions = layout.positions;
    view.files = layout.files;
  } catch (error) {
    $("layout-select").value = view.analysis._id;
    setPlotStatus(view);
    showError(`Could not show ${analysis.name || analysis._id}: ${error.message}`);
    return;
  }
  history.replaceState(null, "", `#/dataset/${view.ds._id}/analysis/${analysis._id}`);
  showAnalysisHead(view);
  state.scatter.setPoints(view.positions);
  paint(view.colors);
  showLabels(view);
  setPlotStatus(view);
  renderDownloads(view);
  drawOverlay(null);
}

function uniformColors(n, rgb) {
  const colors = new Float32Array(n * 3);
  for (let i = 0; i < n; i++) colors.set(rgb, 3 * i);
  return colors;
}

/**
 * The most distinct labels a categorical track may have to be offered: the rule of
 * `bioblocks.analysis._colors.max_track_levels` (1,000, and at most half the cells from 50
 * labels on), applied here too to folders written before the writer applied it.
 */
function maxTrackLevels(n) {
  return Math.min(1000, Math.max(50, Math.floor(n / 2)));
}

/** Empty the colour pickers and the legend. */
function resetTracks() {
  $("categorical-select").replaceChildren(el("option", { value: "" }, "—"));
  $("continuous-select").replaceChildren(el("option", { value: "" }, "—"));
  $("legend").replaceChildren();
  $("categorical-refused").hidden = true;
}

/** The status line under the plot: the number of cells and what the colours show. */
function setPlotStatus(view) {
  const mode = view.colorMode;
  $("plot-status").textContent = mode
    ? `${formatCount(view.n)} cells · coloured by ${mode.name}`
    : `${formatCount(view.n)} cells`;
}

/** Back to one colour for every cell: no legend, nothing named in the status line. */
function colorUniformly() {
  const view = state.view;
  view.colorMode = null;
  view.gene = null;
  view.track = null;
  view.highlight.clear();
  $("categorical-select").value = "";
  $("continuous-select").value = "";
  paint(uniformColors(view.n, [0.2, 0.35, 0.6]));
  showLabels(view);
  state.diffexp.refresh();
  $("legend").replaceChildren();
  setPlotStatus(view);
}

/** Read the view's colour tracks and colour by `prefer` (else the first categorical track). */
async function loadTracks(view, prefer = null) {
  const categorical = $("categorical-select");
  const continuous = $("continuous-select");
  resetTracks();
  if (!view.trackFolder) return;
  try {
    const [cat, cont] = await Promise.all([
      api.getText(`${view.trackFolder}/categorical_coloring_data.json`, { optional: true }),
      api.getText(`${view.trackFolder}/color_data_gene_sets.csv`, { optional: true }),
    ]);
    if (state.view !== view) return;
    const limit = maxTrackLevels(view.n);
    for (const [name, track] of Object.entries(cat ? JSON.parse(cat) : {})) {
      const levels = new Set(track.label_list || []).size;
      if ((track.label_list || []).length !== view.n) continue;
      if (levels <= limit) view.categorical[name] = track;
      else view.refused[name] = { levels, track };
    }
    for (const [name, values] of cont ? parseContinuousTracks(cont) : []) {
      if (values.length === view.n) view.continuous.set(name, values);
    }
  } catch (error) {
    showError(`Could not read the colour tracks: ${error.message}`);
  }
  showRefused(view);
  for (const name of Object.keys(view.categorical)) categorical.append(el("option", { value: name }, name));
  for (const name of view.continuous.keys()) continuous.append(el("option", { value: name }, name));
  const names = Object.keys(view.categorical);
  const first = (prefer && view.categorical[prefer] ? prefer : null)
    || names.find((name) => name !== "Default") || names[0];
  if (first) {
    categorical.value = first;
    colorByCategory(first);
  }
}

/**
 * Say which categorical tracks are not offered for colouring and why: a column with a label
 * for (nearly) every cell, such as barcodes, names cells rather than grouping them.
 */
function showRefused(view) {
  const note = $("categorical-refused");
  const names = Object.entries(view.refused);
  note.hidden = names.length === 0;
  note.textContent = names.length
    ? "Not offered for colouring: " + names.map(([name, { levels }]) =>
      `${name} (${formatCount(levels)} labels for ${formatCount(view.n)} cells)`).join(", ")
      + `. A track may have at most ${formatCount(maxTrackLevels(view.n))} labels here: one`
      + " label per cell, like a barcode, names the cells instead of grouping them."
    : "";
}

/** Labels of the track coloured by at their cells' centres in the current layout. */
function showLabels(view) {
  const mode = view.colorMode;
  const track = mode && mode.kind === "categorical" ? view.categorical[mode.name] : null;
  if (track) state.labels.set(centroids(view.positions, track.label_list));
  else state.labels.clear();
}

function colorByCategory(name) {
  const view = state.view;
  const track = view.categorical[name];
  if (!track) return;
  const changed = view.track !== name;
  view.colorMode = { kind: "categorical", name };
  view.track = name;
  view.gene = null;
  $("continuous-select").value = "";
  setPlotStatus(view);
  const labels = track.label_list;
  const palette = new Map(Object.entries(track.label_colors || {}).map(([k, v]) => [k, parseHex(v)]));
  const counts = new Map([...palette.keys()].map((k) => [k, 0]));
  for (const label of labels) counts.set(label, (counts.get(label) || 0) + 1);
  const colors = new Float32Array(view.n * 3);
  const highlight = view.highlight;
  for (let i = 0; i < view.n; i++) {
    const label = labels[i];
    const rgb = highlight.size && !highlight.has(label) ? DIM : palette.get(label) || DIM;
    colors[3 * i] = rgb[0];
    colors[3 * i + 1] = rgb[1];
    colors[3 * i + 2] = rgb[2];
  }
  paint(colors);
  showLabels(view);
  if (changed) state.diffexp.refresh();
  const legend = $("legend");
  legend.replaceChildren(el("strong", {}, name));
  for (const [label, count] of counts) {
    const rgb = palette.get(label) || DIM;
    legend.append(el("button", {
      type: "button",
      "aria-pressed": highlight.has(label) ? "true" : "false",
      title: "Highlight these cells",
      onclick: () => {
        if (highlight.has(label)) highlight.delete(label);
        else highlight.add(label);
        colorByCategory(name);
      },
    }, el("span", { class: "swatch", style: { background: `rgb(${rgb.map((c) => Math.round(c * 255)).join(",")})` } }),
    el("span", {}, label), el("span", { class: "count" }, formatCount(count))));
  }
}

function formatValue(v) {
  return Math.abs(v) >= 1000 ? Math.round(v).toLocaleString("en-US") : v.toFixed(2);
}

function rampLegend(title, stops, lo, hi) {
  const gradient = `linear-gradient(to right, ${stops.join(", ")})`;
  $("legend").replaceChildren(
    el("strong", {}, title),
    el("div", { class: "ramp", style: { background: gradient } }),
    el("div", { class: "ramp-labels" }, el("span", {}, formatValue(lo)), el("span", {}, formatValue(hi))));
}

function colorByValues(title, values, stops, { zeroGrey }) {
  const view = state.view;
  const lo = zeroGrey ? 0 : quantile(values, 0.01);
  let hi = quantile(values, 0.99);
  if (!(hi > lo)) {
    hi = lo + 1;
    for (const v of values) if (v > hi) hi = v;
  }
  const colors = colorsForValues(values, stops, lo, hi);
  paint(colors);
  rampLegend(title, stops, lo, hi);
  view.highlight.clear();
  showLabels(view);
}

function colorByContinuous(name) {
  const values = state.view.continuous.get(name);
  if (!values) return;
  state.view.colorMode = { kind: "continuous", name };
  state.view.gene = null;
  $("categorical-select").value = "";
  colorByValues(name, values, VIRIDIS, { zeroGrey: false });
  setPlotStatus(state.view);
}

/** The analysis whose expression store serves gene values for this view. */
function expressionAnalysisId(view) {
  return view.analysis._id;
}

async function completeGenes(prefix) {
  const view = state.view;
  if (!view || !view.n || !prefix) return [];
  const body = await api.getJSON(
    `/analysis/${expressionAnalysisId(view)}/genes?prefix=${encodeURIComponent(prefix)}&limit=20`);
  return body.genes || [];
}

async function cellFilterFor(view) {
  if (view.cellFilter !== undefined) return view.cellFilter;
  view.cellFilter = null;
  if (view.trackFolder) {
    const text = await api.getText(`${view.trackFolder}/cell_filter.txt`, { optional: true });
    if (text) view.cellFilter = parseCellFilter(text);
  }
  return view.cellFilter;
}

async function colorByGene(typed) {
  const view = state.view;
  const request = ++state.geneRequest;
  showError("");
  let gene = typed.trim();
  if (!gene) return;
  $("plot-status").textContent = `Loading ${gene}…`;
  try {
    const candidates = await completeGenes(gene);
    gene = candidates.find((g) => g === gene)
      || candidates.find((g) => g.toLowerCase() === gene.toLowerCase())
      || candidates[0]
      || gene;
    $("gene-input").value = gene;
    const { buffer } = await api.getBinary(
      `/analysis/${expressionAnalysisId(view)}/expression?genes=${encodeURIComponent(gene)}`);
    if (request !== state.geneRequest || state.view !== view) return;
    let values = new Float32Array(buffer);
    if (values.length !== view.n) {
      const filter = await cellFilterFor(view);
      if (!filter || filter.length !== view.n) {
        throw new Error(`the expression has ${values.length} cells but the plot ${view.n}`);
      }
      const mapped = new Float32Array(view.n);
      for (let i = 0; i < view.n; i++) mapped[i] = values[filter[i]];
      values = mapped;
    }
    view.colorMode = { kind: "gene", name: gene };
    view.gene = { name: gene, values };
    $("categorical-select").value = "";
    $("continuous-select").value = "";
    colorByValues(gene, values, EXPRESSION, { zeroGrey: true });
    setPlotStatus(view);
  } catch (error) {
    setPlotStatus(view); // the colours did not change
    showError(`Could not colour by ${gene}: ${error.message}`);
  }
}

/** One download link per file the API lists for the analysis (`GET /analysis/{id}/files`). */
function renderDownloads(view) {
  $("downloads").replaceChildren(...view.files.map(({ name, href }) =>
    el("li", {}, el("a", { href: `/${href}`, download: name }, name))));
}

// ---- interaction: pan, zoom, keyboard, box and lasso selection -----------------------

function mode() {
  return document.querySelector('input[name="mode"]:checked').value;
}

function clearSelection() {
  if (state.view) {
    state.view.selection = null;
    state.view.selected = 0;
  }
  $("selection-count").textContent = "No cells selected";
  $("annotation-status").textContent = "";
  drawOverlay(null);
}

/** The selected cells' indices (Uint32Array, ascending), or null when none are selected. */
function selectedCells() {
  const selection = state.view && state.view.selection;
  return selection && selection.cells.length ? selection.cells : null;
}

/** Most selected cells marked one by one on a layout other than the one they were drawn on. */
const MAX_MARKED = 20000;

function drawOverlay(screenPath) {
  const overlay = $("overlay");
  const rect = overlay.getBoundingClientRect();
  const dpr = window.devicePixelRatio || 1;
  overlay.width = Math.round(rect.width * dpr);
  overlay.height = Math.round(rect.height * dpr);
  const ctx = overlay.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, rect.width, rect.height);
  let path = screenPath;
  const view = state.view;
  const selection = view && view.selection;
  if (!path && selection && state.scatter) {
    if (selection.layout !== view.analysis._id) {
      // drawn on another layout: its outline means nothing here, so mark the cells
      markCells(ctx, view.positions, selection.cells);
      return;
    }
    path = selection.polygon.map(([x, y]) => state.scatter.toScreen(x, y));
  }
  if (!path || path.length < 2) return;
  ctx.beginPath();
  ctx.moveTo(path[0][0], path[0][1]);
  for (const [x, y] of path.slice(1)) ctx.lineTo(x, y);
  ctx.closePath();
  ctx.fillStyle = "rgba(255, 159, 26, 0.12)";
  ctx.strokeStyle = "#d47800";
  ctx.lineWidth = 1.5;
  ctx.fill();
  ctx.stroke();
}

/** Outline each selected cell (the first MAX_MARKED of them) on the overlay. */
function markCells(ctx, positions, cells) {
  ctx.strokeStyle = "#d47800";
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  const n = Math.min(cells.length, MAX_MARKED);
  for (let k = 0; k < n; k++) {
    const i = cells[k];
    const [px, py] = state.scatter.toScreen(positions[2 * i], positions[2 * i + 1]);
    ctx.rect(px - 3, py - 3, 6, 6);
  }
  ctx.stroke();
}

function finishSelection(screenPath) {
  const view = state.view;
  if (!view || screenPath.length < 3) return;
  const polygon = screenPath.map(([x, y]) => state.scatter.toData(x, y));
  const hits = state.scatter.pointsInPolygon(polygon);
  view.selection = { polygon, layout: view.analysis._id, cells: Uint32Array.from(hits) };
  view.selected = hits.length;
  $("selection-count").textContent = `${formatCount(hits.length)} cell${hits.length === 1 ? "" : "s"} selected`;
  drawOverlay(null);
}

function ensureScatter() {
  if (state.scatter) return;
  const canvas = $("plot");
  const scatter = new Scatter(canvas);
  state.scatter = scatter;
  window.bioblocksPlot = scatter; // for benchmarks and tests: frame counter and view
  state.labels = new PlotLabels($("plot-labels"), scatter);
  scatter.onRender = () => {
    drawOverlay(null);
    state.labels.place();
  };
  let drag = null;
  let hover = null; // the pointer position waiting for the next frame's tooltip
  const tooltip = $("tooltip");
  const showHover = () => {
    if (!hover) return;
    const [px, py] = hover;
    hover = null;
    const view = state.view;
    const i = view && view.n && !drag ? nearestCell(scatter, px, py, 8) : -1;
    showTooltip(tooltip, i >= 0 ? cellFacts(view, i) : null, px, py);
    if (i >= 0) tooltip.dataset.cell = String(i);
  };
  canvas.addEventListener("pointerdown", (event) => {
    canvas.focus();
    canvas.setPointerCapture(event.pointerId);
    const rect = canvas.getBoundingClientRect();
    const point = [event.clientX - rect.left, event.clientY - rect.top];
    drag = { mode: mode(), last: point, path: [point] };
  });
  canvas.addEventListener("pointermove", (event) => {
    const rect = canvas.getBoundingClientRect();
    const point = [event.clientX - rect.left, event.clientY - rect.top];
    if (!drag) {
      if (!hover) requestAnimationFrame(showHover);
      hover = point;
      return;
    }
    tooltip.hidden = true;
    if (drag.mode === "pan") {
      scatter.panBy(point[0] - drag.last[0], point[1] - drag.last[1]);
    } else if (drag.mode === "box") {
      const [x0, y0] = drag.path[0];
      drag.path = [[x0, y0], [point[0], y0], point, [x0, point[1]]];
      drawOverlay(drag.path);
    } else {
      drag.path.push(point);
      drawOverlay(drag.path);
    }
    drag.last = point;
  });
  const end = () => {
    if (drag && drag.mode !== "pan") finishSelection(drag.path);
    drag = null;
  };
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);
  canvas.addEventListener("pointerleave", () => {
    hover = null;
    tooltip.hidden = true;
  });
  canvas.addEventListener("wheel", (event) => {
    event.preventDefault();
    const rect = canvas.getBoundingClientRect();
    scatter.zoomAt(Math.exp(-event.deltaY * 0.0015), event.clientX - rect.left, event.clientY - rect.top);
  }, { passive: false });
  canvas.addEventListener("keydown", (event) => {
    const { width, height } = scatter.cssSize();
    const step = 0.1 * Math.min(width, height);
    const moves = {
      ArrowLeft: () => scatter.panBy(step, 0),
      ArrowRight: () => scatter.panBy(-step, 0),
      ArrowUp: () => scatter.panBy(0, step),
      ArrowDown: () => scatter.panBy(0, -step),
      "+": () => scatter.zoomAt(1.25, width / 2, height / 2),
      "=": () => scatter.zoomAt(1.25, width / 2, height / 2),
      "-": () => scatter.zoomAt(0.8, width / 2, height / 2),
      0: () => scatter.reset(),
      Escape: () => clearSelection(),
    };
    const action = moves[event.key];
    if (action) {
      event.preventDefault();
      action();
    }
  });
  new ResizeObserver(() => scatter.requestRender()).observe(canvas);
}

// ---- the selection's uses: DE groups (barcodes and annotations: selection.js) ----------

/** Keep the current selection as DE group `side` ("a" or "b"). */
function keepSelection(side) {
  const view = state.view;
  if (!view) return;
  view.groups[side] = selectedCells();
  state.diffexp.refresh();
}

// ---- wiring --------------------------------------------------------------------------

function renderTokenState() {
  const token = api.getToken();
  $("token-state").textContent = token ? "token saved" : "";
  $("token-input").value = "";
}

function route() {
  const match = /^#\/dataset\/([^/]+)\/analysis\/([^/]+)$/.exec(location.hash);
  if (match) openAnalysis(decodeURIComponent(match[1]), decodeURIComponent(match[2]));
  else showList();
}

function init() {
  renderTokenState();
  state.diffexp = setupDiffexp({
    view: () => state.view,
    colorByGene: (gene) => {
      $("gene-input").value = gene;
      return colorByGene(gene);
    },
    formatCount,
  });
  $("layout-select").addEventListener("change", (event) => switchLayout(event.target.value));
  $("keep-a").addEventListener("click", () => keepSelection("a"));
  $("keep-b").addEventListener("click", () => keepSelection("b"));
  setupSelectionFiles({
    view: () => state.view,
    selectedCells,
    reloadTracks: (view, prefer) => {
      view.categorical = {};
      view.refused = {};
      view.continuous = new Map();
      view.highlight.clear();
      return loadTracks(view, prefer);
    },
    formatCount,
  });
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    api.setToken($("token-input").value.trim());
    renderTokenState();
    if (!$("list-view").hidden) renderDatasets();
  });
  $("token-clear").addEventListener("click", () => {
    api.setToken("");
    renderTokenState();
    if (!$("list-view").hidden) renderDatasets();
  });
  $("home-link").addEventListener("click", (event) => {
    event.preventDefault();
    location.hash = "";
  });
  $("back").addEventListener("click", () => { location.hash = ""; });
  $("categorical-select").addEventListener("change", (event) => {
    if (!state.view || !state.view.n) return;
    state.view.highlight.clear();
    if (event.target.value) colorByCategory(event.target.value);
    else colorUniformly();
  });
  $("continuous-select").addEventListener("change", (event) => {
    if (!state.view || !state.view.n) return;
    if (event.target.value) colorByContinuous(event.target.value);
    else colorUniformly();
  });
  let completionTimer = null;
  $("gene-input").addEventListener("input", (event) => {
    clearTimeout(completionTimer);
    const prefix = event.target.value.trim();
    completionTimer = setTimeout(async () => {
      try {
        const genes = await completeGenes(prefix);
        $("gene-options").replaceChildren(...genes.map((g) => el("option", { value: g })));
      } catch (error) {
        showError(`Gene completion failed: ${error.message}`);
      }
    }, 150);
  });
  $("gene-form").addEventListener("submit", (event) => {
    event.preventDefault();
    if (state.view && state.view.n) colorByGene($("gene-input").value);
  });
  $("selection-clear").addEventListener("click", clearSelection);
  window.addEventListener("hashchange", route);
  route();
}

init();

// Differential expression on the page: groups A and B (kept selections or labels of the
// current track), POST /analysis/{id}/diffexp, the marker genes of the current track
// (GET /analysis/{id}/markers), both shown in sortable tables whose genes colour the plot.
import * as api from "./api.js";
import { csvText, downloadText } from "./explore.js";

const $ = (id) => document.getElementById(id);

const percent = (v) => (Number.isFinite(v) ? `${(100 * v).toFixed(1)}%` : "");
const fixed = (v) => (Number.isFinite(v) ? v.toFixed(2) : String(v));
const scientific = (v) => (Number.isFinite(v) ? (v === 0 ? "0" : v.toPrecision(3)) : String(v));

/** The columns of a gene table: key of a result record, header, cell text, CSV header. */
function columns(aName, bName) {
  return [
    { key: "gene", title: "Gene", text: String, csv: "gene" },
    { key: "logfoldchange", title: "log2 fold change", text: fixed, csv: "log2_fold_change" },
    { key: "padj", title: "Adjusted p", text: scientific, csv: "padj" },
    { key: "frac_a", title: `% ${aName}`, text: percent, csv: "fraction_expressing_a" },
    { key: "frac_b", title: `% ${bName}`, text: percent, csv: "fraction_expressing_b" },
  ];
}

/**
 * A table of genes (`records` of a DE answer) in `table`, sorted by a column when its
 * header is clicked (genes A→Z first, numbers largest first; a second click reverses);
 * clicking a gene calls `onGene(gene)`.
 */
export class GeneTable {
  constructor(table, onGene) {
    this.table = table;
    this.onGene = onGene;
    this.columns = columns("A", "B");
    this.records = [];
    this.sort = null; // { key, descending }
  }

  /** Show `records` (in the server's order, by score) under headers for groups aName, bName. */
  set(records, aName, bName) {
    this.columns = columns(aName, bName);
    this.records = records;
    this.sort = null;
    this.render();
  }

  /** The rows in their shown order. */
  rows() {
    if (!this.sort) return this.records;
    const { key, descending } = this.sort;
    const sign = descending ? -1 : 1;
    const value = (r) => (r[key] === null || r[key] === undefined ? -Infinity : r[key]);
    return [...this.records].sort((a, b) => {
      const x = value(a), y = value(b);
      return sign * (typeof x === "string" ? x.localeCompare(y) : x - y);
    });
  }

  sortBy(key) {
    const first = key !== "gene";
    this.sort = this.sort && this.sort.key === key
      ? { key, descending: !this.sort.descending }
      : { key, descending: first };
    this.render();
  }

  render() {
    const head = document.createElement("tr");
    for (const column of this.columns) {
      const th = document.createElement("th");
      th.scope = "col";
      th.dataset.key = column.key;
      const sorted = this.sort && this.sort.key === column.key;
      th.setAttribute("aria-sort", sorted ? (this.sort.descending ? "descending" : "ascending") : "none");
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = column.title;
      button.title = "Sort by this column";
      button.addEventListener("click", () => this.sortBy(column.key));
      th.append(button);
      head.append(th);
    }
    const body = document.createElement("tbody");
    for (const record of this.rows()) {
      const tr = document.createElement("tr");
      for (const column of this.columns) {
        const td = document.createElement("td");
        if (column.key === "gene") {
          const button = document.createElement("button");
          button.type = "button";
          button.className = "gene";
          button.textContent = record.gene;
          button.title = `Colour the plot by ${record.gene}`;
          button.addEventListener("click", () => this.onGene(record.gene));
          td.append(button);
        } else {
          td.textContent = column.text(record[column.key]);
        }
        tr.append(td);
      }
      body.append(tr);
    }
    const thead = document.createElement("thead");
    thead.append(head);
    this.table.replaceChildren(thead, body);
  }

  /** The shown rows as CSV (full-precision numbers). */
  csv() {
    return csvText(this.columns.map((c) => c.csv), this.rows().map((r) => this.columns.map((c) => r[c.key])));
  }
}

/** The request's side for one choice of a group select, or null when it is not usable. */
function groupSpec(view, choice, side) {
  if (choice === "rest") return "rest";
  if (choice === "kept") {
    const cells = view.groups[side];
    return cells && cells.length ? { cells: Array.from(cells) } : null;
  }
  if (choice.startsWith("label:") && view.track) return { track: view.track, label: choice.slice(6) };
  return null;
}

function groupName(choice, side) {
  if (choice === "rest") return "rest";
  if (choice === "kept") return `selection ${side.toUpperCase()}`;
  return choice.slice(6);
}

/**
 * Wire the DE and marker panels. `ctx.view()` is the open analysis (see app.js
 * openAnalysis), `ctx.colorByGene(gene)` colours the plot, `ctx.formatCount(n)` formats.
 * Returns `{ refresh }`: call it when the groups, the track or the analysis change.
 */
export function setupDiffexp(ctx) {
  const deTable = new GeneTable($("de-table"), ctx.colorByGene);
  const markerTable = new GeneTable($("markers-table"), ctx.colorByGene);
  let request = 0;
  let last = null; // the last DE answer's file name

  function options(select, side, withRest) {
    const view = ctx.view();
    const previous = select.value;
    const opts = [];
    if (withRest) opts.push(["rest", "Every other cell"]);
    const kept = view && view.groups[side];
    opts.push(["kept", kept ? `Selection ${side.toUpperCase()} (${ctx.formatCount(kept.length)} cells)`
      : `Selection ${side.toUpperCase()} (none kept)`]);
    const track = view && view.track && view.categorical[view.track];
    if (track) {
      for (const label of Object.keys(track.label_colors || {})) {
        opts.push([`label:${label}`, `${view.track}: ${label}`]);
      }
    }
    select.replaceChildren(...opts.map(([value, text]) => {
      const option = document.createElement("option");
      option.value = value;
      option.textContent = text;
      return option;
    }));
    if (opts.some(([value]) => value === previous)) select.value = previous;
  }

  function refreshGroups() {
    const view = ctx.view();
    options($("de-a"), "a", false);
    options($("de-b"), "b", true);
    for (const side of ["a", "b"]) {
      const cells = view && view.groups[side];
      $(`group-${side}-count`).textContent = cells ? `${ctx.formatCount(cells.length)} cells` : "none";
    }
  }

  async function run() {
    const view = ctx.view();
    if (!view || !view.n) return;
    const a = $("de-a").value, b = $("de-b").value;
    const specA = groupSpec(view, a, "a"), specB = groupSpec(view, b, "b");
    const status = $("de-status");
    if (!specA || !specB) {
      status.textContent = `Keep a selection as ${!specA ? "A" : "B"} first (select cells, then “Keep as ${!specA ? "A" : "B"}”), or choose a label.`;
      return;
    }
    const method = $("de-method").value;
    const mine = ++request;
    status.textContent = "Testing every gene…";
    $("de-download").disabled = true;
    try {
      const answer = await api.postJSON(`/analysis/${encodeURIComponent(view.analysis._id)}/diffexp`,
        { groups: [specA, specB], method, top: Number($("de-top").value) || 50 });
      if (mine !== request || ctx.view() !== view) return;
      const [nameA, nameB] = [groupName(a, "a"), groupName(b, "b")];
      deTable.set(answer.genes, nameA, nameB);
      const [sizeA, sizeB] = answer.sizes;
      status.textContent = `${nameA} (${ctx.formatCount(sizeA)} cells) against ${nameB} `
        + `(${ctx.formatCount(sizeB)} cells) · ${answer.method} · top ${answer.genes.length} genes `
        + `· log2 fold change with pseudocount ${answer.pseudocount}`;
      last = `diffexp ${nameA} vs ${nameB}.csv`.replace(/[^\w .-]+/g, "_");
      $("de-download").disabled = false;
    } catch (error) {
      if (mine === request) status.textContent = `Could not compare the groups: ${error.message}`;
    }
  }

  async function loadMarkers() {
    const view = ctx.view();
    const status = $("markers-status");
    const labelSelect = $("markers-label");
    if (!view || !view.track) {
      status.textContent = "Colour by a category to see its marker genes.";
      labelSelect.replaceChildren();
      markerTable.set([], "group", "rest");
      return;
    }
    const track = view.track;
    status.textContent = `Loading the marker genes of ${track}…`;
    try {
      if (!view.markers.has(track)) {
        const url = `/analysis/${encodeURIComponent(view.analysis._id)}/markers?track=${encodeURIComponent(track)}`;
        view.markers.set(track, api.getJSON(url));
      }
      const answer = await view.markers.get(track);
      if (ctx.view() !== view || view.track !== track) return;
      const labels = answer.tracks[track] || {};
      const previous = labelSelect.value;
      labelSelect.replaceChildren(...Object.keys(labels).map((label) => {
        const option = document.createElement("option");
        option.value = label;
        option.textContent = `${label} (${ctx.formatCount(labels[label].size)} cells)`;
        return option;
      }));
      if (labels[previous]) labelSelect.value = previous;
      showMarkerLabel(answer, track);
    } catch (error) {
      view.markers.delete(track);
      status.textContent = `Could not read the marker genes of ${track}: ${error.message}`;
    }
  }

  function showMarkerLabel(answer, track) {
    const label = $("markers-label").value;
    const entry = (answer.tracks[track] || {})[label];
    markerTable.set(entry ? entry.genes : [], label || "group", "rest");
    $("markers-status").textContent = entry
      ? `${track}: ${label} against every other cell · ${answer.method} · top ${entry.genes.length}`
      : `${track} has no marker genes (one label only).`;
  }

  $("de-run").addEventListener("click", run);
  $("de-download").addEventListener("click", () => downloadText(last || "diffexp.csv", deTable.csv()));
  $("markers-label").addEventListener("change", async () => {
    const view = ctx.view();
    if (view && view.track && view.markers.has(view.track)) {
      showMarkerLabel(await view.markers.get(view.track), view.track);
    }
  });
  $("markers").addEventListener("toggle", () => { if ($("markers").open) loadMarkers(); });

  return {
    /** The groups or the current track changed: rebuild the group choices (and markers). */
    refresh() {
      refreshGroups();
      if ($("markers").open) loadMarkers();
    },
    /** A new analysis: empty both tables. */
    reset() {
      request++;
      deTable.set([], "A", "B");
      $("de-status").textContent = "";
      $("de-download").disabled = true;
      refreshGroups();
      if ($("markers").open) loadMarkers();
    },
  };
}

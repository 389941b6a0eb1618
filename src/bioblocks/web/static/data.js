// Reading the analysis files: coordinates, colour tracks, cell filters; colour ramps.

/** Parse the decimal number in text[a, b) (fast path; parseFloat for anything unusual). */
function parseNumber(text, a, b) {
  let i = a;
  while (i < b && text.charCodeAt(i) <= 32) i++;
  let end = b;
  while (end > i && text.charCodeAt(end - 1) <= 32) end--;
  let c = text.charCodeAt(i);
  let negative = false;
  if (c === 45 || c === 43) { negative = c === 45; i++; }
  let mantissa = 0, scale = 0, digits = 0;
  while (i < end && (c = text.charCodeAt(i)) >= 48 && c <= 57) { mantissa = mantissa * 10 + (c - 48); i++; digits++; }
  if (i < end && text.charCodeAt(i) === 46) {
    i++;
    while (i < end && (c = text.charCodeAt(i)) >= 48 && c <= 57) { mantissa = mantissa * 10 + (c - 48); scale--; i++; digits++; }
  }
  if (i < end && ((c = text.charCodeAt(i)) === 101 || c === 69)) {
    i++;
    let sign = 1, exponent = 0;
    c = text.charCodeAt(i);
    if (c === 45 || c === 43) { sign = c === 45 ? -1 : 1; i++; }
    while (i < end && (c = text.charCodeAt(i)) >= 48 && c <= 57) { exponent = exponent * 10 + (c - 48); i++; }
    scale += sign * exponent;
  }
  if (i !== end || digits === 0) return parseFloat(text.slice(a, b));
  const value = scale < 0 ? mantissa / 10 ** -scale : mantissa * 10 ** scale;
  return negative ? -value : value;
}

/**
 * Parse SPRING `coordinates.txt` (`i,x,y`; the index is ignored, line order counts) or a
 * t-SNE/UMAP output (`x,y`) into a Float32Array of x,y pairs. Short lines are skipped.
 */
export function parseCoordinates(text, { indexed, flipY }) {
  let lines = 1;
  for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", i + 1)) lines++;
  const out = new Float32Array(2 * lines);
  const first = indexed ? 1 : 0;
  let n = 0, start = 0;
  const length = text.length;
  while (start < length) {
    let end = text.indexOf("\n", start);
    if (end < 0) end = length;
    // Field boundaries: the x field is number `first`, y the next one.
    let a = start;
    for (let f = 0; f < first && a >= 0; f++) {
      a = text.indexOf(",", a);
      if (a >= end) a = -1;
      if (a >= 0) a++;
    }
    const b = a >= 0 ? text.indexOf(",", a) : -1;
    if (a >= 0 && b >= 0 && b < end) {
      let c = text.indexOf(",", b + 1);
      if (c < 0 || c > end) c = end;
      const y = parseNumber(text, b + 1, c);
      out[2 * n] = parseNumber(text, a, b);
      out[2 * n + 1] = flipY ? -y : y;
      n++;
    }
    start = end + 1;
  }
  return out.slice(0, 2 * n);
}

/** Parse `color_data_gene_sets.csv` into a Map name → Float32Array. */
export function parseContinuousTracks(text) {
  const tracks = new Map();
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    const comma = line.indexOf(",");
    if (comma < 0) continue;
    const values = line.slice(comma + 1).split(",").map(parseFloat);
    tracks.set(line.slice(0, comma), Float32Array.from(values));
  }
  return tracks;
}

/** Parse `cell_filter.txt` (one integer per line) into Int32Array. */
export function parseCellFilter(text) {
  return Int32Array.from(text.split("\n").filter((l) => l.trim()).map((l) => parseInt(l, 10)));
}

/** "#rrggbb" or "0xrrggbb" → [r, g, b] in 0..1. */
export function parseHex(color) {
  const hex = String(color).replace(/^#|^0x/i, "");
  const value = parseInt(hex.padStart(6, "0").slice(-6), 16);
  if (Number.isNaN(value)) return [0.5, 0.5, 0.5];
  return [((value >> 16) & 255) / 255, ((value >> 8) & 255) / 255, (value & 255) / 255];
}

export const VIRIDIS = ["#440154", "#3b528b", "#21918c", "#5ec962", "#fde725"];
export const EXPRESSION = ["#d9d9d9", "#fcbba1", "#fb6a4a", "#cb181d", "#67000d"];

/** Colour at t in 0..1 along a ramp of hex stops. */
export function rampColor(stops, t) {
  const rgb = stops.map(parseHex);
  const x = Math.min(Math.max(Number.isFinite(t) ? t : 0, 0), 1) * (rgb.length - 1);
  const i = Math.min(Math.floor(x), rgb.length - 2);
  const f = x - i;
  return [0, 1, 2].map((k) => rgb[i][k] + (rgb[i + 1][k] - rgb[i][k]) * f);
}

/** A 256-entry lookup table for a ramp (Float32Array of 768). */
export function rampTable(stops) {
  const table = new Float32Array(256 * 3);
  for (let i = 0; i < 256; i++) table.set(rampColor(stops, i / 255), 3 * i);
  return table;
}

/** Value at quantile q (0..1) of finite values (sampled above 200,000 values). */
export function quantile(values, q) {
  const step = Math.max(1, Math.floor(values.length / 200000));
  const sample = [];
  for (let i = 0; i < values.length; i += step) if (Number.isFinite(values[i])) sample.push(values[i]);
  if (!sample.length) return 0;
  sample.sort((a, b) => a - b);
  return sample[Math.min(sample.length - 1, Math.floor(q * (sample.length - 1)))];
}

/** Colours (Float32Array 3N) for values on a ramp from lo to hi. */
export function colorsForValues(values, stops, lo, hi) {
  const table = rampTable(stops);
  const colors = new Float32Array(values.length * 3);
  const span = hi > lo ? hi - lo : 1;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    let k = Number.isFinite(v) ? Math.round(((v - lo) / span) * 255) : 0;
    k = k < 0 ? 0 : k > 255 ? 255 : k;
    colors[3 * i] = table[3 * k];
    colors[3 * i + 1] = table[3 * k + 1];
    colors[3 * i + 2] = table[3 * k + 2];
  }
  return colors;
}

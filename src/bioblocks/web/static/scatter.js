// WebGL scatter plot: one gl.POINTS draw call over float32 position and colour buffers.
// The view (centre and zoom) is two uniforms, so panning and zooming never touch the
// buffers; a million points redraw in one call per frame.
//
// Large sets are uploaded in a random order, so the first k vertices are a uniform sample.
// While the view moves, a frame draws the first k points with k sized to a frame budget
// from the measured cost of a full frame (all points on a GPU; a sample on a CPU
// renderer such as SwiftShader); once the view rests, every point is drawn again.

const FRAME_BUDGET_MS = 33;
const MIN_SAMPLE = 20000;
const SHUFFLE_ABOVE = 100000;
const SETTLE_MS = 150;

/** A random permutation of 0..n-1 (seeded, so a plot looks the same every time). */
function permutation(n) {
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  let seed = 0x9e3779b9;
  for (let i = n - 1; i > 0; i--) {
    seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5;
    const j = (seed >>> 0) % (i + 1);
    const t = order[i]; order[i] = order[j]; order[j] = t;
  }
  return order;
}

function permute(values, order, width) {
  const out = new Float32Array(values.length);
  for (let i = 0; i < order.length; i++) {
    const from = order[i] * width, to = i * width;
    for (let k = 0; k < width; k++) out[to + k] = values[from + k];
  }
  return out;
}

const VERTEX = `
attribute vec2 a_position;
attribute vec3 a_color;
uniform vec2 u_scale;
uniform vec2 u_offset;
uniform float u_size;
varying vec3 v_color;
void main() {
  gl_Position = vec4(a_position * u_scale + u_offset, 0.0, 1.0);
  gl_PointSize = u_size;
  v_color = a_color;
}`;

const FRAGMENT = `
precision mediump float;
varying vec3 v_color;
void main() {
  vec2 c = gl_PointCoord - vec2(0.5);
  if (dot(c, c) > 0.25) discard;
  gl_FragColor = vec4(v_color, 1.0);
}`;

function compile(gl, type, source) {
  const shader = gl.createShader(type);
  gl.shaderSource(shader, source);
  gl.compileShader(shader);
  if (!gl.getShaderParameter(shader, gl.COMPILE_STATUS)) {
    throw new Error(`WebGL shader: ${gl.getShaderInfoLog(shader)}`);
  }
  return shader;
}

export class Scatter {
  /** Draw points on `canvas`; call setPoints, then setColors. */
  constructor(canvas) {
    this.canvas = canvas;
    const gl = canvas.getContext("webgl", { antialias: false, preserveDrawingBuffer: true });
    if (!gl) throw new Error("This browser has no WebGL: the plot cannot be drawn.");
    this.gl = gl;
    const program = gl.createProgram();
    gl.attachShader(program, compile(gl, gl.VERTEX_SHADER, VERTEX));
    gl.attachShader(program, compile(gl, gl.FRAGMENT_SHADER, FRAGMENT));
    gl.linkProgram(program);
    if (!gl.getProgramParameter(program, gl.LINK_STATUS)) {
      throw new Error(`WebGL program: ${gl.getProgramInfoLog(program)}`);
    }
    this.program = program;
    this.loc = {
      position: gl.getAttribLocation(program, "a_position"),
      color: gl.getAttribLocation(program, "a_color"),
      scale: gl.getUniformLocation(program, "u_scale"),
      offset: gl.getUniformLocation(program, "u_offset"),
      size: gl.getUniformLocation(program, "u_size"),
    };
    this.positionBuffer = gl.createBuffer();
    this.colorBuffer = gl.createBuffer();
    this.count = 0;
    this.positions = new Float32Array(0);
    this.bounds = { minX: -1, maxX: 1, minY: -1, maxY: 1 };
    this.view = { cx: 0, cy: 0, zoom: 1 };
    this.frames = 0;
    this.onRender = null;
    this.order = null;
    this.fullFrameMs = 0;
    this.lastDrawn = 0;
    this._moving = false;
    this._settle = null;
    this._pending = false;
  }

  /** Upload x,y pairs (Float32Array of length 2N) and fit the view to them. */
  setPoints(positions) {
    const gl = this.gl;
    this.positions = positions;
    this.count = positions.length / 2;
    let minX = Infinity, maxX = -Infinity, minY = Infinity, maxY = -Infinity;
    for (let i = 0; i < positions.length; i += 2) {
      const x = positions[i], y = positions[i + 1];
      if (x < minX) minX = x;
      if (x > maxX) maxX = x;
      if (y < minY) minY = y;
      if (y > maxY) maxY = y;
    }
    if (!(minX <= maxX)) { minX = -1; maxX = 1; minY = -1; maxY = 1; }
    this.bounds = { minX, maxX, minY, maxY };
    this.order = this.count > SHUFFLE_ABOVE ? permutation(this.count) : null;
    this.fullFrameMs = 0;
    gl.bindBuffer(gl.ARRAY_BUFFER, this.positionBuffer);
    gl.bufferData(gl.ARRAY_BUFFER, this.order ? permute(positions, this.order, 2) : positions,
      gl.STATIC_DRAW);
    this.reset();
  }

  /** Upload r,g,b in 0..1 (Float32Array of length 3N, in point order). */
  setColors(colors) {
    const gl = this.gl;
    gl.bindBuffer(gl.ARRAY_BUFFER, this.colorBuffer);
    gl.bufferData(gl.ARRAY_BUFFER, this.order ? permute(colors, this.order, 3) : colors,
      gl.DYNAMIC_DRAW);
    this.requestRender();
  }

  /** Mark the view as moving: frames may draw a sample until it rests for SETTLE_MS. */
  _moved() {
    this._moving = true;
    clearTimeout(this._settle);
    this._settle = setTimeout(() => {
      this._moving = false;
      this.requestRender();
    }, SETTLE_MS);
  }

  /** Points to draw this frame: all at rest; while moving, as many as fit the budget. */
  _drawCount() {
    if (!this._moving || !this.order || this.fullFrameMs <= FRAME_BUDGET_MS) return this.count;
    const fit = Math.floor((this.count * FRAME_BUDGET_MS) / this.fullFrameMs);
    return Math.min(this.count, Math.max(MIN_SAMPLE, fit));
  }

  /** Fit the whole point cloud in the canvas. */
  reset() {
    const { minX, maxX, minY, maxY } = this.bounds;
    const { width, height } = this.cssSize();
    const spanX = Math.max(maxX - minX, 1e-9), spanY = Math.max(maxY - minY, 1e-9);
    this.view = {
      cx: (minX + maxX) / 2,
      cy: (minY + maxY) / 2,
      zoom: 0.92 * Math.min(width / spanX, height / spanY),
    };
    this.requestRender();
  }

  cssSize() {
    const rect = this.canvas.getBoundingClientRect();
    return { width: Math.max(rect.width, 1), height: Math.max(rect.height, 1) };
  }

  /** Move the view by (dx, dy) CSS pixels. */
  panBy(dx, dy) {
    this.view.cx -= dx / this.view.zoom;
    this.view.cy += dy / this.view.zoom;
    this._moved();
    this.requestRender();
  }

  /** Zoom by `factor` keeping the data point under CSS pixel (px, py) in place. */
  zoomAt(factor, px, py) {
    const before = this.toData(px, py);
    this.view.zoom = Math.min(Math.max(this.view.zoom * factor, 1e-6), 1e9);
    const after = this.toData(px, py);
    this.view.cx += before[0] - after[0];
    this.view.cy += before[1] - after[1];
    this._moved();
    this.requestRender();
  }

  /** Data coordinates of CSS pixel (px, py) relative to the canvas. */
  toData(px, py) {
    const { width, height } = this.cssSize();
    return [
      this.view.cx + (px - width / 2) / this.view.zoom,
      this.view.cy - (py - height / 2) / this.view.zoom,
    ];
  }

  /** CSS pixel of data point (x, y). */
  toScreen(x, y) {
    const { width, height } = this.cssSize();
    return [
      width / 2 + (x - this.view.cx) * this.view.zoom,
      height / 2 - (y - this.view.cy) * this.view.zoom,
    ];
  }

  requestRender() {
    if (this._pending) return;
    this._pending = true;
    requestAnimationFrame(() => {
      this._pending = false;
      this.render();
    });
  }

  /** Draw now: one gl.drawArrays(gl.POINTS) call. */
  render() {
    const gl = this.gl;
    const dpr = window.devicePixelRatio || 1;
    const { width, height } = this.cssSize();
    const w = Math.round(width * dpr), h = Math.round(height * dpr);
    if (this.canvas.width !== w || this.canvas.height !== h) {
      this.canvas.width = w;
      this.canvas.height = h;
    }
    gl.viewport(0, 0, w, h);
    gl.clearColor(1, 1, 1, 1);
    gl.clear(gl.COLOR_BUFFER_BIT);
    if (this.count > 0) {
      gl.useProgram(this.program);
      const sx = (2 * this.view.zoom) / width, sy = (2 * this.view.zoom) / height;
      gl.uniform2f(this.loc.scale, sx, sy);
      gl.uniform2f(this.loc.offset, -this.view.cx * sx, -this.view.cy * sy);
      const base = this.count > 500000 ? 1 : this.count > 200000 ? 2 : this.count > 20000 ? 3 : 5;
      gl.uniform1f(this.loc.size, base * dpr);
      gl.bindBuffer(gl.ARRAY_BUFFER, this.positionBuffer);
      gl.enableVertexAttribArray(this.loc.position);
      gl.vertexAttribPointer(this.loc.position, 2, gl.FLOAT, false, 0, 0);
      gl.bindBuffer(gl.ARRAY_BUFFER, this.colorBuffer);
      gl.enableVertexAttribArray(this.loc.color);
      gl.vertexAttribPointer(this.loc.color, 3, gl.FLOAT, false, 0, 0);
      const n = this._drawCount();
      const start = performance.now();
      gl.drawArrays(gl.POINTS, 0, n);
      if (n === this.count && this.order) {
        // Measure a full frame once drawn (reading one pixel waits for it).
        gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, this._pixel || (this._pixel = new Uint8Array(4)));
        this.fullFrameMs = performance.now() - start;
      }
      this.lastDrawn = n;
    }
    this.frames += 1;
    if (this.onRender) this.onRender();
  }

  /** Indices of the points inside a data-space polygon [[x, y], ...] (3+ vertices). */
  pointsInPolygon(polygon) {
    let minX = Infinity, maxX = -Infinity, minY = Infinity, maxY = -Infinity;
    for (const [x, y] of polygon) {
      minX = Math.min(minX, x); maxX = Math.max(maxX, x);
      minY = Math.min(minY, y); maxY = Math.max(maxY, y);
    }
    const xs = Float64Array.from(polygon, (p) => p[0]);
    const ys = Float64Array.from(polygon, (p) => p[1]);
    const n = polygon.length, pos = this.positions, hits = [];
    for (let i = 0; i < this.count; i++) {
      const x = pos[2 * i], y = pos[2 * i + 1];
      if (x < minX || x > maxX || y < minY || y > maxY) continue;
      let inside = false;
      for (let a = 0, b = n - 1; a < n; b = a++) {
        if ((ys[a] > y) !== (ys[b] > y) &&
            x < ((xs[b] - xs[a]) * (y - ys[a])) / (ys[b] - ys[a]) + xs[a]) inside = !inside;
      }
      if (inside) hits.push(i);
    }
    return hits;
  }
}

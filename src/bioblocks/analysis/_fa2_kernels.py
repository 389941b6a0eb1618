"""Compiled ForceAtlas2 kernels (numba); the public face is :mod:`bioblocks.analysis.layout`.

The forces and the speed control follow the ``fa2`` package's ``fa2util.py``
(Bhargav Chippada, a port of Gephi's ForceAtlas2, Jacomy et al. 2014), which is
what SPRING calls. Arrays only; every kernel is deterministic for given inputs
(the parallel repulsion writes each node's own force from one thread and
collects reactions in a fixed number of per-chunk buffers, summed in a fixed
order), so the same seed gives bit-identical layouts whatever the thread count.

The Barnes-Hut tree is rebuilt each iteration. Its regions carry what
``fa2``'s ``Region`` carries (mass, centre of mass, ``size`` = twice the largest
distance from the centre of mass) and are opened by the same test
(``distance * theta > size``), but they are split at the centre of their
bounding box (in halves across the long side of a box more than twice as long
as wide) instead of at the centre of mass. ``fa2``'s split makes unbounded
wedge-shaped quadrants: during the expansion from the random start, and for
clustered layouts, far outliers stay in the regions around the dense core and
every core node opens them (measured: ~1,000 region visits per node at a
million clustered points, against ~80 with this split), which made an
iteration 10-20x slower at a million nodes. The split does not cost layout
quality: on the HPC graph (published parameters, seeds 0-3) the layouts keep
0.1139 of each cell's 15 nearest PC-space neighbours on average, against
0.1132 with ``fa2``'s split (the seed-to-seed spread is about 0.002; see
``tests/analysis/test_spring.py``). Nodes that all coincide become one
leaf each, as in ``fa2``. The tree is stored in pre-order with a "skip" index
(the first region after a subtree), so a traversal needs no stack. It is built on
coordinates kept in tree order (every pass over a region reads contiguous memory)
and, for large graphs, subtree by subtree on every thread; the result is the same
tree as the one-thread build's.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

#: Number of reaction buffers of the parallel Barnes-Hut pass. Fixed (not the
#: thread count) so that results do not depend on the machine.
N_CHUNKS = 8


#: The parallel quadtree build leaves ranges of at most ``n // SUBTREES`` nodes to the
#: threads (``defer_at`` of :func:`build_quadtree`).
SUBTREES = 512

#: ``meta[r, 1]`` of a range left for the parallel phase (its subtree is built later).
_DEFERRED = -2


@njit(cache=True, nogil=True)
def _build_range(
    px: np.ndarray,
    py: np.ndarray,
    pm: np.ndarray,
    perm: np.ndarray,
    iscratch: np.ndarray,
    fscratch: np.ndarray,
    rec: np.ndarray,
    meta: np.ndarray,
    stack: np.ndarray,
    s0: int,
    e0: int,
    base: int,
    defer_at: int,
) -> int:
    """Build the subtree of positions ``s0:e0`` of ``perm`` into ``rec[base:]``, ``meta[base:]``.

    ``px``, ``py``, ``pm`` are the nodes' x, y and mass in ``perm`` order and are
    reordered with it, so every pass over a region reads contiguous memory. Regions are
    numbered in pre-order from ``base``; ``meta[r, 0]`` gets the local index of the parent
    (-1 for the subtree's root) and ``meta[r, 1]`` the leaf's position in ``perm`` (-1 for
    an inner region). A range of ``2..defer_at`` nodes other than the root is not split:
    its region is marked ``_DEFERRED`` with ``rec[r, 0:2] = (start, end)``. Only positions
    ``s0:e0`` of ``perm``, the coordinate and scratch arrays, and rows ``s0:e0`` of
    ``stack`` are touched. Returns the number of regions.
    """
    count = 0
    top = s0 + 1
    stack[s0, 0] = s0
    stack[s0, 1] = e0
    stack[s0, 2] = -1
    counts = np.zeros(4, dtype=np.int64)
    offsets = np.zeros(4, dtype=np.int64)
    while top > s0:
        top -= 1
        s = stack[top, 0]
        e = stack[top, 1]
        r = base + count
        count += 1
        meta[r, 0] = stack[top, 2]  # the parent, until the skip indices are known
        if e - s == 1:
            rec[r, 0] = px[s]
            rec[r, 1] = py[s]
            rec[r, 2] = 0.0
            rec[r, 3] = pm[s]
            meta[r, 1] = s
            continue
        if e - s <= defer_at and count > 1:
            rec[r, 0] = s
            rec[r, 1] = e
            meta[r, 1] = _DEFERRED
            continue
        meta[r, 1] = -1
        m = 0.0
        sx = 0.0
        sy = 0.0
        x_lo = np.inf
        x_hi = -np.inf
        y_lo = np.inf
        y_hi = -np.inf
        for k in range(s, e):
            m += pm[k]
            sx += px[k] * pm[k]
            sy += py[k] * pm[k]
            x_lo = min(x_lo, px[k])
            x_hi = max(x_hi, px[k])
            y_lo = min(y_lo, py[k])
            y_hi = max(y_hi, py[k])
        cx = sx / m
        cy = sy / m
        size = 0.0
        for k in range(s, e):
            d = 2.0 * math.sqrt((px[k] - cx) ** 2 + (py[k] - cy) ** 2)
            if d > size:
                size = d
        rec[r, 0] = cx
        rec[r, 1] = cy
        rec[r, 2] = size
        rec[r, 3] = m
        # Split at the centre of the bounding box, in quadrants (fa2's order:
        # top-left, bottom-left, top-right, bottom-right), or in halves across
        # the long side when the box is more than twice as long as wide, so
        # that regions stay compact.
        mx = 0.5 * (x_lo + x_hi)
        my = 0.5 * (y_lo + y_hi)
        if x_hi - x_lo >= 2.0 * (y_hi - y_lo):
            my = -np.inf
        elif y_hi - y_lo >= 2.0 * (x_hi - x_lo):
            mx = -np.inf
        counts[:] = 0
        for k in range(s, e):
            if px[k] < mx:
                q = 1 if py[k] < my else 0
            else:
                q = 3 if py[k] < my else 2
            iscratch[0, k] = q
            counts[q] += 1
        offsets[0] = s
        for q in range(1, 4):
            offsets[q] = offsets[q - 1] + counts[q - 1]
        for k in range(s, e):
            q = iscratch[0, k]
            o = offsets[q]
            iscratch[1, o] = perm[k]
            fscratch[0, o] = px[k]
            fscratch[1, o] = py[k]
            fscratch[2, o] = pm[k]
            offsets[q] = o + 1
        for k in range(s, e):
            perm[k] = iscratch[1, k]
            px[k] = fscratch[0, k]
            py[k] = fscratch[1, k]
            pm[k] = fscratch[2, k]
        # Push the children in reverse so the first quadrant is built first (pre-order).
        for q in range(3, -1, -1):
            c = counts[q]
            if c == 0:
                continue
            qs = offsets[q] - c
            if c < e - s:
                stack[top, 0] = qs
                stack[top, 1] = qs + c
                stack[top, 2] = r - base
                top += 1
            else:  # all the nodes coincide: one leaf each
                for k in range(qs + c - 1, qs - 1, -1):
                    stack[top, 0] = k
                    stack[top, 1] = k + 1
                    stack[top, 2] = r - base
                    top += 1
    return count


@njit(cache=True, nogil=True)
def _skips_from_parents(meta: np.ndarray, base: int, count: int, sizes: np.ndarray) -> None:
    """Turn the local parents in ``meta[base:base + count, 0]`` into global skip indices.

    ``sizes`` holds each region's own number of regions (1, or a deferred subtree's
    size); children follow their parent in pre-order, so one backward pass sums them.
    """
    for r in range(count - 1, 0, -1):
        sizes[meta[base + r, 0]] += sizes[r]
    for r in range(count):
        meta[base + r, 0] = base + r + sizes[r]


@njit(cache=True, nogil=True, parallel=True)
def build_quadtree(
    x: np.ndarray,
    y: np.ndarray,
    mass: np.ndarray,
    perm: np.ndarray,
    work: np.ndarray,
    iscratch: np.ndarray,
    rec: np.ndarray,
    meta: np.ndarray,
    stack: np.ndarray,
    defer_at: int,
) -> int:
    """Build the Barnes-Hut quadtree of the points in place; return the number of regions.

    ``perm`` (a permutation of the node indices) is reordered in place so that
    every region's nodes are contiguous. Region ``r`` (pre-order) gets
    ``rec[r] = (centre x, centre y, size, mass)`` (for a leaf: the
    node's position and mass) and ``meta[r] = (skip, position)``, where ``skip``
    is the first region after the subtree and ``position`` is the leaf node's
    index into ``perm`` (-1 for an inner region). ``rec`` and ``meta`` need
    ``4 n`` rows (the second half is work space); ``work`` (``(6, n)`` float64),
    ``iscratch`` (``(2, n)`` int64) and ``stack`` (``(n, 3)`` int64) are work space.

    With ``defer_at > 0`` (``n // SUBTREES`` suits) the top of the tree is built first,
    leaving ranges of at most ``defer_at`` nodes, whose subtrees are then built in parallel
    (each in rows ``2 * start`` on of the second half, which a range of ``m`` nodes, with
    at most ``2 m - 1`` regions, cannot overrun) and copied into place. Every region is
    computed exactly as by the one-thread build: the result is the same.
    """
    n = x.shape[0]
    px = work[0]
    py = work[1]
    pm = work[2]
    fscratch = work[3:6]
    for k in prange(n):
        i = perm[k]
        px[k] = x[i]
        py[k] = y[i]
        pm[k] = mass[i]
    if defer_at <= 0:
        count = _build_range(px, py, pm, perm, iscratch, fscratch, rec, meta, stack, 0, n, 0, 0)
        _skips_from_parents(meta, 0, count, np.ones(count, dtype=np.int64))
        return count
    # The top of the tree, in the second half (rows 2n:); its deferred ranges are the
    # subtrees of the parallel phase.
    half = 2 * n
    n_top = _build_range(
        px, py, pm, perm, iscratch, fscratch, rec, meta, stack, 0, n, half, defer_at
    )
    top_rec = rec[half : half + n_top].copy()
    top_meta = meta[half : half + n_top].copy()
    deferred = np.empty(n_top, dtype=np.int64)
    n_def = 0
    for t in range(n_top):
        if top_meta[t, 1] == _DEFERRED:
            deferred[n_def] = t
            n_def += 1
    sub_count = np.zeros(n_top, dtype=np.int64)
    for d in prange(n_def):
        t = deferred[d]
        s = int(top_rec[t, 0])
        e = int(top_rec[t, 1])
        c = _build_range(px, py, pm, perm, iscratch, fscratch, rec, meta, stack, s, e,
                         half + 2 * s, 0)
        _skips_from_parents(meta, half + 2 * s, c, np.ones(c, dtype=np.int64))
        sub_count[t] = c
    # Final positions: pre-order of the top with each deferred subtree expanded in place.
    sizes = np.ones(n_top, dtype=np.int64)
    position = np.empty(n_top, dtype=np.int64)
    p = 0
    for t in range(n_top):
        position[t] = p
        if top_meta[t, 1] == _DEFERRED:
            sizes[t] = sub_count[t]
        p += sizes[t]
    for t in range(n_top - 1, 0, -1):
        sizes[top_meta[t, 0]] += sizes[t]
    for t in range(n_top):
        if top_meta[t, 1] != _DEFERRED:
            r = position[t]
            rec[r] = top_rec[t]
            meta[r, 0] = r + sizes[t]
            meta[r, 1] = top_meta[t, 1]
    for d in prange(n_def):
        t = deferred[d]
        src = half + 2 * int(top_rec[t, 0])
        dst = position[t]
        shift = dst - src
        for j in range(sub_count[t]):
            rec[dst + j] = rec[src + j]
            meta[dst + j, 0] = meta[src + j, 0] + shift
            meta[dst + j, 1] = meta[src + j, 1]
    return p


@njit(cache=True, nogil=True, parallel=True)
def barnes_hut_repulsion(
    perm: np.ndarray,
    n_regions: int,
    rec: np.ndarray,
    meta: np.ndarray,
    theta: float,
    coefficient: float,
    fx: np.ndarray,
    fy: np.ndarray,
    buf: np.ndarray,
) -> None:
    """Add the Barnes-Hut repulsion ``coefficient * m_a * m_b / d`` to ``fx``, ``fy``.

    As in ``fa2``'s ``Region.applyForce``: a region far enough
    (``distance * theta > size``) acts through its centre of mass on the node
    only; a leaf reached by the traversal repels *both* nodes (``linRepulsion``
    updates the pair), so close pairs are counted from both sides, exactly as in
    ``fa2`` and Gephi. The test is written as in ``fa2`` (``sqrt(d2) * theta >
    size``) so that a region's farthest node, at exactly ``size / 2``, opens its
    own region as it does there. Reactions go into ``buf`` (``(chunks, n, 2)``, indexed by
    position in ``perm``), summed in chunk order at the end.
    """
    n = perm.shape[0]
    n_chunks = buf.shape[0]
    leaf_of = np.empty(n, dtype=np.int64)  # position in perm -> leaf region
    for r in range(n_regions):
        p = meta[r, 1]
        if p >= 0:
            leaf_of[p] = r
    for chunk in prange(n_chunks):
        b = buf[chunk]
        b[:, :] = 0.0
        lo = chunk * n // n_chunks
        hi = (chunk + 1) * n // n_chunks
        for t in range(lo, hi):
            own = leaf_of[t]
            xa = rec[own, 0]
            ya = rec[own, 1]
            ma = coefficient * rec[own, 3]
            ax = 0.0
            ay = 0.0
            r = 0
            while r < n_regions:
                ddx = xa - rec[r, 0]
                ddy = ya - rec[r, 1]
                d2 = ddx * ddx + ddy * ddy
                p = meta[r, 1]
                if p >= 0:
                    if d2 > 0.0:
                        f = ma * rec[r, 3] / d2
                        ax += ddx * f
                        ay += ddy * f
                        b[p, 0] -= ddx * f
                        b[p, 1] -= ddy * f
                    r += 1
                elif math.sqrt(d2) * theta > rec[r, 2]:
                    f = ma * rec[r, 3] / d2
                    ax += ddx * f
                    ay += ddy * f
                    r = meta[r, 0]
                else:
                    r += 1
            b[t, 0] += ax
            b[t, 1] += ay
    for t in prange(n):
        sx = 0.0
        sy = 0.0
        for chunk in range(n_chunks):
            sx += buf[chunk, t, 0]
            sy += buf[chunk, t, 1]
        a = perm[t]
        fx[a] += sx
        fy[a] += sy


@njit(cache=True, nogil=True, parallel=True)
def exact_repulsion(
    x: np.ndarray,
    y: np.ndarray,
    mass: np.ndarray,
    coefficient: float,
    fx: np.ndarray,
    fy: np.ndarray,
) -> None:
    """Add the exact O(n^2) repulsion (each pair once, as ``fa2``'s ``apply_repulsion``)."""
    n = x.shape[0]
    for a in prange(n):
        xa = x[a]
        ya = y[a]
        ma = mass[a]
        ax = 0.0
        ay = 0.0
        for b in range(n):
            ddx = xa - x[b]
            ddy = ya - y[b]
            d2 = ddx * ddx + ddy * ddy
            if d2 > 0.0:
                f = coefficient * ma * mass[b] / d2
                ax += ddx * f
                ay += ddy * f
        fx[a] += ax
        fy[a] += ay


@njit(cache=True, nogil=True)
def gravity_and_attraction(
    x: np.ndarray,
    y: np.ndarray,
    mass: np.ndarray,
    gravity: float,
    src: np.ndarray,
    dst: np.ndarray,
    weight: np.ndarray,
    fx: np.ndarray,
    fy: np.ndarray,
) -> None:
    """Add ``fa2``'s linear gravity ``m * g`` towards the origin and linear edge attraction."""
    n = x.shape[0]
    for i in range(n):
        d = math.sqrt(x[i] * x[i] + y[i] * y[i])
        if d > 0.0:
            f = mass[i] * gravity / d
            fx[i] -= x[i] * f
            fy[i] -= y[i] * f
    for e in range(src.shape[0]):
        i = src[e]
        j = dst[e]
        f = -weight[e]
        ddx = (x[i] - x[j]) * f
        ddy = (y[i] - y[j]) * f
        fx[i] += ddx
        fy[i] += ddy
        fx[j] -= ddx
        fy[j] -= ddy


@njit(cache=True, nogil=True, parallel=True)
def gravity_and_attraction_by_node(
    x: np.ndarray,
    y: np.ndarray,
    mass: np.ndarray,
    gravity: float,
    adj_indptr: np.ndarray,
    adj_indices: np.ndarray,
    adj_weight: np.ndarray,
    fx: np.ndarray,
    fy: np.ndarray,
) -> None:
    """The forces of :func:`gravity_and_attraction`, summed node by node on every thread.

    ``adj_*`` is the adjacency in compressed rows, each edge in both directions (so each
    edge is computed twice, from both ends, and no two threads write the same node). The
    sums run in a fixed order, so the result does not depend on the thread count; it
    differs from the edge-ordered sums of :func:`gravity_and_attraction` by rounding only.
    """
    n = x.shape[0]
    for i in prange(n):
        xi = x[i]
        yi = y[i]
        ax = 0.0
        ay = 0.0
        d = math.sqrt(xi * xi + yi * yi)
        if d > 0.0:
            f = mass[i] * gravity / d
            ax -= xi * f
            ay -= yi * f
        for p in range(adj_indptr[i], adj_indptr[i + 1]):
            j = adj_indices[p]
            f = -adj_weight[p]
            ax += (xi - x[j]) * f
            ay += (yi - y[j]) * f
        fx[i] += ax
        fy[i] += ay


@njit(cache=True, nogil=True)
def adjust_speed_and_move(
    x: np.ndarray,
    y: np.ndarray,
    mass: np.ndarray,
    fx: np.ndarray,
    fy: np.ndarray,
    old_fx: np.ndarray,
    old_fy: np.ndarray,
    speed: float,
    speed_efficiency: float,
    jitter_tolerance: float,
) -> tuple[float, float]:
    """Move the nodes by ``fa2``'s adaptive local speed; return ``(speed, speed_efficiency)``."""
    n = x.shape[0]
    total_swinging = 0.0
    total_traction = 0.0
    for i in range(n):
        sw = math.sqrt((old_fx[i] - fx[i]) ** 2 + (old_fy[i] - fy[i]) ** 2)
        total_swinging += mass[i] * sw
        total_traction += (
            0.5 * mass[i] * math.sqrt((old_fx[i] + fx[i]) ** 2 + (old_fy[i] + fy[i]) ** 2)
        )
    estimated_jt = 0.05 * math.sqrt(n)
    min_jt = math.sqrt(estimated_jt)
    max_jt = 10.0
    jt = jitter_tolerance * max(min_jt, min(max_jt, estimated_jt * total_traction / (n * n)))
    min_speed_efficiency = 0.05
    if total_traction > 0.0 and total_swinging / total_traction > 2.0:
        if speed_efficiency > min_speed_efficiency:
            speed_efficiency *= 0.5
        jt = max(jt, jitter_tolerance)
    if total_swinging == 0.0:
        target_speed = math.inf
    else:
        target_speed = jt * speed_efficiency * total_traction / total_swinging
    if total_swinging > jt * total_traction:
        if speed_efficiency > min_speed_efficiency:
            speed_efficiency *= 0.7
    elif speed < 1000.0:
        speed_efficiency *= 1.3
    max_rise = 0.5
    speed = speed + min(target_speed - speed, max_rise * speed)
    for i in range(n):
        sw = mass[i] * math.sqrt((old_fx[i] - fx[i]) ** 2 + (old_fy[i] - fy[i]) ** 2)
        factor = speed / (1.0 + math.sqrt(speed * sw))
        x[i] += fx[i] * factor
        y[i] += fy[i] * factor
    return speed, speed_efficiency

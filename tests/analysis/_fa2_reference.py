"""A literal pure-Python transcription of the ``fa2`` package's algorithm, for tests only.

It follows ``fa2/fa2util.py`` and ``ForceAtlas2.forceatlas2`` step by step
(``Region`` objects, recursive ``applyForce``, pairwise ``linRepulsion``) with
SPRING's settings, so the compiled kernels can be checked against it on small
graphs. Slow (pure Python); use a few dozen nodes.
"""

from __future__ import annotations

from math import sqrt

import numpy as np


class _Node:
    def __init__(self, x: float, y: float, mass: float) -> None:
        self.x, self.y, self.mass = x, y, mass
        self.dx = self.dy = self.old_dx = self.old_dy = 0.0


def _lin_repulsion(n1: _Node, n2: _Node, coefficient: float) -> None:
    x_dist, y_dist = n1.x - n2.x, n1.y - n2.y
    distance2 = x_dist * x_dist + y_dist * y_dist
    if distance2 > 0:
        factor = coefficient * n1.mass * n2.mass / distance2
        n1.dx += x_dist * factor
        n1.dy += y_dist * factor
        n2.dx -= x_dist * factor
        n2.dy -= y_dist * factor


class _Region:
    def __init__(self, nodes: list[_Node]) -> None:
        self.nodes = nodes
        self.subregions: list[_Region] = []
        self.mass = self.cx = self.cy = self.size = 0.0
        if len(nodes) > 1:
            self.mass = sum(n.mass for n in nodes)
            self.cx = sum(n.x * n.mass for n in nodes) / self.mass
            self.cy = sum(n.y * n.mass for n in nodes) / self.mass
            self.size = max(2 * sqrt((n.x - self.cx) ** 2 + (n.y - self.cy) ** 2) for n in nodes)

    def build(self) -> None:
        if len(self.nodes) < 2:
            return
        quadrants: list[list[_Node]] = [[], [], [], []]  # top-left, bottom-left, top-right, bottom-right
        for n in self.nodes:
            if n.x < self.cx:
                quadrants[1 if n.y < self.cy else 0].append(n)
            else:
                quadrants[3 if n.y < self.cy else 2].append(n)
        for quadrant in quadrants:
            if 0 < len(quadrant) < len(self.nodes):
                self.subregions.append(_Region(quadrant))
            elif quadrant:
                self.subregions.extend(_Region([n]) for n in quadrant)
        for sub in self.subregions:
            sub.build()

    def apply(self, n: _Node, theta: float, coefficient: float) -> None:
        if len(self.nodes) < 2:
            _lin_repulsion(n, self.nodes[0], coefficient)
            return
        distance = sqrt((n.x - self.cx) ** 2 + (n.y - self.cy) ** 2)
        if distance * theta > self.size:
            x_dist, y_dist = n.x - self.cx, n.y - self.cy
            distance2 = x_dist * x_dist + y_dist * y_dist
            if distance2 > 0:
                factor = coefficient * n.mass * self.mass / distance2
                n.dx += x_dist * factor
                n.dy += y_dist * factor
        else:
            for sub in self.subregions:
                sub.apply(n, theta, coefficient)


def reference_forceatlas2(
    start: np.ndarray,
    edges: list[tuple[int, int]],
    *,
    n_iter: int,
    theta: float = 2.0,
    barnes_hut: bool = True,
    scaling_ratio: float = 1.0,
    gravity: float = 0.05,
    jitter_tolerance: float = 1.0,
) -> np.ndarray:
    """Run ``fa2``'s loop from ``start`` on an unweighted graph; return the positions."""
    pairs = sorted({(min(i, j), max(i, j)) for i, j in edges if i != j})
    degree = np.zeros(len(start), dtype=int)
    for i, j in pairs:
        degree[i] += 1
        degree[j] += 1
    nodes = [_Node(float(x), float(y), 1.0 + d) for (x, y), d in zip(start, degree, strict=True)]
    speed, speed_efficiency = 1.0, 1.0
    for _ in range(n_iter):
        for n in nodes:
            n.old_dx, n.old_dy, n.dx, n.dy = n.dx, n.dy, 0.0, 0.0
        if barnes_hut:
            root = _Region(nodes)
            root.build()
            for n in nodes:
                root.apply(n, theta, scaling_ratio)
        else:
            for i, n1 in enumerate(nodes):
                for n2 in nodes[:i]:
                    _lin_repulsion(n1, n2, scaling_ratio)
        for n in nodes:
            distance = sqrt(n.x * n.x + n.y * n.y)
            if distance > 0:
                factor = n.mass * gravity / distance
                n.dx -= n.x * factor
                n.dy -= n.y * factor
        for i, j in pairs:
            n1, n2 = nodes[i], nodes[j]
            x_dist, y_dist = n1.x - n2.x, n1.y - n2.y
            n1.dx -= x_dist
            n1.dy -= y_dist
            n2.dx += x_dist
            n2.dy += y_dist
        swinging = sum(
            n.mass * sqrt((n.old_dx - n.dx) ** 2 + (n.old_dy - n.dy) ** 2) for n in nodes
        )
        traction = sum(
            0.5 * n.mass * sqrt((n.old_dx + n.dx) ** 2 + (n.old_dy + n.dy) ** 2) for n in nodes
        )
        estimated = 0.05 * sqrt(len(nodes))
        jt = jitter_tolerance * max(
            sqrt(estimated), min(10.0, estimated * traction / (len(nodes) ** 2))
        )
        if traction and swinging / traction > 2.0:
            if speed_efficiency > 0.05:
                speed_efficiency *= 0.5
            jt = max(jt, jitter_tolerance)
        target = float("inf") if swinging == 0 else jt * speed_efficiency * traction / swinging
        if swinging > jt * traction:
            if speed_efficiency > 0.05:
                speed_efficiency *= 0.7
        elif speed < 1000:
            speed_efficiency *= 1.3
        speed = speed + min(target - speed, 0.5 * speed)
        for n in nodes:
            node_swinging = n.mass * sqrt((n.old_dx - n.dx) ** 2 + (n.old_dy - n.dy) ** 2)
            factor = speed / (1.0 + sqrt(speed * node_swinging))
            n.x += n.dx * factor
            n.y += n.dy * factor
    return np.array([[n.x, n.y] for n in nodes])

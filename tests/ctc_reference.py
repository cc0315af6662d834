"""CTC by its definition, for tests: the sum over every path of T classes that collapses to the
target (repeats merged, then blanks removed) of the path's probability, by enumerating all C**T
paths. Independent of the alpha-beta recursion; only for tiny T and C."""

from __future__ import annotations

import itertools

import numpy as np


def collapse(path, blank):
    out = []
    prev = None
    for c in path:
        if c != prev and c != blank:
            out.append(c)
        prev = c
    return tuple(out)


def brute_force_nll(lp, target, blank):
    """-log p(target | lp) for one sample: lp (T, C) float64 log-probabilities."""
    steps, classes = lp.shape
    target = tuple(int(c) for c in target)
    total = -np.inf
    for path in itertools.product(range(classes), repeat=steps):
        if collapse(path, blank) == target:
            total = np.logaddexp(total, lp[np.arange(steps), list(path)].sum())
    if steps == 0:
        total = 0.0 if not target else -np.inf
    return -total

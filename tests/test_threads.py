"""kernels.set_num_threads is process-wide ([Note: process-wide thread count]): kernels called
from any Python thread, started before or after the call, use the count."""

from __future__ import annotations

import queue
import threading

import deepcore as dc
import numpy as np

K = dc.kernels


def _kernel_then_count():
    x = np.ones(100_000, np.float32)
    K.activation_forward(x, "relu", out=x)  # any kernel call applies the setting
    return K.get_num_threads(), dc._C.omp_max_threads()


class _Worker:
    """A Python thread that runs _kernel_then_count each time it is asked."""

    def __init__(self):
        self.ask, self.answer = queue.Queue(), queue.Queue()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while self.ask.get():
            self.answer.put(_kernel_then_count())

    def __call__(self):
        self.ask.put(True)
        return self.answer.get(timeout=60)

    def stop(self):
        self.ask.put(False)
        self.thread.join()


def test_set_num_threads_reaches_every_thread():
    prev = K.get_num_threads()
    n = prev + 1  # distinguishable from every thread's OpenMP default
    early = _Worker()  # started before the call
    try:
        K.set_num_threads(n)
        assert K.get_num_threads() == n
        assert early() == (n, n)
        late = _Worker()  # started after it
        assert late() == (n, n)
        K.set_num_threads(1)  # changed while both threads live: their next kernels follow
        assert early() == (1, 1)
        assert late() == (1, 1)
        late.stop()
    finally:
        K.set_num_threads(prev)
        early.stop()
    assert dc._C.omp_max_threads() == prev

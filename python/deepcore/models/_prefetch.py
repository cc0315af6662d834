"""Reading a PyDataset's batches ahead of the training step, in threads or processes
(see [Note: PyDataset workers])."""

from __future__ import annotations

import collections
import itertools
import multiprocessing
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

__all__ = ["prefetched"]


def prefetched(dataset: Any, order: Any, workers: int, depth: int, processes: bool) -> Iterator:
    """``dataset[i]`` for each ``i`` of ``order``, in order, read by ``workers`` threads (or
    processes) up to ``depth`` batches ahead.

    [Note: PyDataset workers] Keras 3's PyDataset(workers=..., use_multiprocessing=...,
    max_queue_size=...) reads batches in a pool while the model trains. Here: a pool per epoch,
    at most ``depth`` batches requested ahead of the one the step takes (so memory stays
    bounded), handed out in the order of the epoch whatever order they finish in; an exception
    in ``__getitem__`` is raised in the training thread when its batch is due.
    - Threads (the default) help datasets whose ``__getitem__`` waits (files, decoding in
      NumPy or other GIL-releasing libraries); the kernels of a step release the GIL, so
      reading overlaps training.
    - ``use_multiprocessing=True``: worker processes, for a ``__getitem__`` that holds the GIL
      (pure-Python parsing or augmentation). As in Keras, a new pool each epoch sees the
      dataset as it is then (after ``on_epoch_end``'s reshuffle); the processes are forked
      where the platform can (the dataset is inherited, not pickled; elsewhere it must be
      picklable) and the batches come back pickled. In a worker, deepcore's kernels run on
      one thread (an OpenMP team must not be used across a fork). A worker that dies raises
      in the training thread instead of hanging it."""
    if processes:
        methods = multiprocessing.get_all_start_methods()
        ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
        with warnings.catch_warnings():  # Python >= 3.12 warns about fork() in threaded parents
            warnings.simplefilter("ignore", DeprecationWarning)
            pool: Any = ProcessPoolExecutor(
                workers, mp_context=ctx, initializer=_worker_start, initargs=(dataset,)
            )
        get: Callable[[int], Any] = _worker_get
    else:
        pool = ThreadPoolExecutor(workers, thread_name_prefix="deepcore-pydataset")
        get = dataset.__getitem__
    pending: collections.deque = collections.deque()
    try:
        it = iter(order)
        for i in itertools.islice(it, depth):
            pending.append(pool.submit(get, int(i)))
        while pending:
            try:
                batch = pending.popleft().result()
            except BrokenProcessPool as e:
                raise RuntimeError(
                    "a PyDataset worker process died while reading a batch (use_multiprocessing"
                    "=True); run with use_multiprocessing=False to see the error in this process"
                ) from e
            for i in itertools.islice(it, 1):
                pending.append(pool.submit(get, int(i)))
            yield batch
    finally:
        for f in pending:
            f.cancel()
        pool.shutdown(wait=True, cancel_futures=True)


_worker_dataset: Any = None


def _worker_start(dataset: Any) -> None:
    global _worker_dataset
    _worker_dataset = dataset
    from .. import kernels

    kernels.set_num_threads(1)


def _worker_get(i: int) -> Any:
    return _worker_dataset[i]

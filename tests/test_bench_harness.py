"""bench/: one timing harness, and benchmarks that run against whatever deepcore is importable."""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


def _harness():
    spec = importlib.util.spec_from_file_location("bench_harness", BENCH / "harness.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_harness"] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize(
    "path", sorted(p.name for p in BENCH.glob("*.py") if p.name != "harness.py")
)
def test_bench_uses_the_harness_and_never_edits_sys_path(path):
    tree = ast.parse((BENCH / path).read_text())
    imports = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert "harness" in imports, f"{path} does not time through bench/harness.py"
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "path":
            assert not (isinstance(node.value, ast.Name) and node.value.id == "sys"), (
                f"{path} edits sys.path: a bench must run against the importable deepcore"
            )


# The benches that read a clock themselves, and why the harness cannot time those figures.
_OWN_CLOCK = {
    "distributed.py": "each MPI job times its own training run; the pairs are whole jobs",
    "train_convnet.py": "--profile: one epoch under cProfile, not a comparison",
}
_CLOCKS = {"perf_counter", "perf_counter_ns", "process_time", "thread_time", "time", "monotonic"}


@pytest.mark.parametrize(
    "path", sorted(p.name for p in BENCH.glob("*.py") if p.name != "harness.py")
)
def test_bench_reads_the_clock_only_through_the_harness(path):
    """A hand-timed loop skips the protocol (warm-up, A/B blocks, per-pair ratios)."""
    tree = ast.parse((BENCH / path).read_text())
    reads = [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr in _CLOCKS
        and (
            (isinstance(node.value, ast.Name) and node.value.id == "time")
            or (
                isinstance(node.value, ast.Call)
                and getattr(node.value.func, "id", "") == "__import__"
            )
        )
    ]
    assert not reads or path in _OWN_CLOCK, f"{path} reads the clock itself at lines {reads}"


def test_validation_stops_the_run():
    h = _harness()
    assert h.check_close([1.0, 2.0], [1.0, 2.0], 0.0, "same") == 0.0
    with pytest.raises(SystemExit, match="validation failed: case"):
        h.check_close([1.0, 2.0], [1.0, 2.5], 1e-3, "case")
    with pytest.raises(SystemExit, match="validation failed"):
        h.check_close([float("nan")], [1.0], 1e-3, "nan")


def test_alternate_warms_up_then_times_in_rounds():
    h = _harness()
    calls = []
    r = h.alternate(lambda: calls.append("a"), lambda: calls.append("b"), rounds=3, reps=2,
                    warmup=1)  # fmt: skip
    assert calls == ["a", "b"] + ["a", "a", "b", "b"] * 3
    assert len(r.wall[0]) == len(r.cpu[1]) == 3
    p = h.Paired(h.Rounds([[1.0, 2.0, 4.0], [2.0, 2.0, 2.0]], [[1.0] * 3, [1.0] * 3], 1))
    assert p.ratio == 1.0 and p.speedup == 1.0  # medians of the per-pair ratios
    assert p.ours_median == 2.0 and p.cpu_ratio == 1.0


def test_origin_says_which_deepcore_ran():
    assert "deepcore" in _harness().deepcore_origin()


@pytest.mark.parametrize("in_process", [False, True])
def test_peer_runs_torch_apart_and_times_its_blocks(in_process, monkeypatch):
    """bench/peer.py ([Note: peer process]): a function sent to the peer returns its result as
    NumPy, is timed there through ``alternate``, shares objects with the functions sent beside
    it, and a failure there is raised here; the worker never imports deepcore."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("cloudpickle")
    monkeypatch.syspath_prepend(str(BENCH))
    sys.modules.pop("harness", None)
    from harness import alternate
    from peer import Peer

    x = torch.arange(6.0).reshape(2, 3)
    box = [torch.zeros(1)]

    def bump():
        box[0] += 1
        return box[0]

    with Peer(1, in_process=in_process) as peer:
        double, add_one, read = peer.fns(lambda: x * 2, bump, lambda: box[0])
        got = double()
        assert type(got).__module__ == "numpy" and got.tolist() == [[0, 2, 4], [6, 8, 10]]
        add_one()
        add_one()
        assert read().tolist() == [2.0]  # shared with bump: one pickle
        r = alternate(lambda: None, double, rounds=2, reps=3, warmup=1)
        assert len(r.wall[1]) == 2 and all(t > 0 for t in r.wall[1])
        if not in_process:
            assert "own process" in peer.describe()
            has_deepcore = peer.fn(lambda: "deepcore" in __import__("sys").modules)
            assert has_deepcore() is False
            with pytest.raises(RuntimeError, match="ZeroDivisionError"):
                peer.fn(lambda: 1 / 0)()

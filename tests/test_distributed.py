"""deepcore.distributed: data-parallel training as MPI jobs (``mpirun -n 2`` and ``-n 3``)
against one process trained on the combined batch (tests/distributed_cases.py holds both
sides' runs, tests/distributed_worker.py is one rank).

Tolerance: every rank must end each step with bitwise identical weights (one reduction order
per job, see [Note: gradient buckets]); against one process the per-rank partial sums are
added in a different order, so float32 rounding differences are allowed (rtol 1e-4, atol
1e-6 on weights of order 0.1-1, a few steps of SGD with momentum).

The MPI jobs need the distributed extra (``pip install ".[test,distributed]"``, which CI
installs): without mpi4py or an mpirun they are skipped, saying so.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import deepcore
import deepcore.distributed as dist
import distributed_cases as cases
import numpy as np
import pytest
from deepcore import optim
from deepcore.distributed import launch

HERE = Path(__file__).parent
TIMEOUT = 120  # seconds for one MPI job (a few seconds each on an idle 2-core machine)


def _mpi_available() -> str | None:
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return "mpi4py is not installed"
    if launch.find_mpirun() is None:
        return "no mpirun found"
    return None


_why = _mpi_available()
needs_mpi = pytest.mark.skipif(
    _why is not None, reason=f"{_why}: pip install '.[distributed]' to run the MPI jobs"
)


def mpirun(
    n: int, out: Path, cases_: str, ckpt: str = "", timeout: float = TIMEOUT, **extra_env: str
):
    env = dict(os.environ, **extra_env)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(Path(deepcore.__file__).parent.parent), str(HERE), env.get("PYTHONPATH", "")]
    )
    cmd, env = launch.mpirun_command(
        n, [sys.executable, str(HERE / "distributed_worker.py"), str(out), ckpt, cases_], env
    )
    t0 = time.monotonic()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    return p, time.monotonic() - t0


def _load(path: Path) -> tuple[list[list[np.ndarray]], dict]:
    z = np.load(path)
    steps: dict[int, dict[int, np.ndarray]] = {}
    hist = {}
    for k in z.files:
        if k.startswith("h_"):
            hist[k[2:]] = z[k].tolist()
        else:
            s, w = k[1:].split("_w")
            steps.setdefault(int(s), {})[int(w)] = z[k]
    return [[ws[j] for j in sorted(ws)] for _, ws in sorted(steps.items())], hist


def _same_on_every_rank(out: Path, case: str, n: int) -> tuple[list, dict]:
    first = _load(out / f"{case}-0.npz")
    for r in range(1, n):
        other = _load(out / f"{case}-{r}.npz")
        assert len(other[0]) == len(first[0])
        for a_ws, b_ws in zip(first[0], other[0]):
            for a, b in zip(a_ws, b_ws):
                np.testing.assert_array_equal(a, b)  # bitwise: one reduction per job
        assert other[1] == first[1]
    return first


def _close_to_reference(got: list, ref: list, what: str) -> None:
    assert len(got) == len(ref), f"{what}: {len(got)} steps, reference {len(ref)}"
    for s, (g_ws, r_ws) in enumerate(zip(got, ref)):
        for j, (g, r) in enumerate(zip(g_ws, r_ws)):
            np.testing.assert_allclose(
                g, r, rtol=1e-4, atol=1e-6, err_msg=f"{what}: step {s}, weight {j}"
            )


def _history_close(got: dict, ref: dict) -> None:
    assert sorted(got) == sorted(ref)
    for k in ref:
        np.testing.assert_allclose(got[k], ref[k], rtol=1e-5, atol=1e-7, err_msg=k)


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    """One ``mpirun -n 2`` job: the seed convnet, the BN MLP (writing a checkpoint), the
    custom DistributedOptimizer loop, the BN MLP with small buckets, overlapped or not, and
    sharded validation / evaluate / predict of 7 rows."""
    if _why is not None:
        pytest.skip(_why)
    out = tmp_path_factory.mktemp("mpi2")
    ckpt = str(out / "bn.deepcore")
    p, _ = mpirun(
        2,
        out,
        "convnet,convnet_distopt,bn_mlp,custom,custom_overlap,custom_scaled,overlap,evaluate7,"
        "loss_scaled",
        ckpt,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    return out, ckpt, p


@needs_mpi
def test_convnet_two_ranks_matches_one_process(two_ranks):
    out, _, _ = two_ranks
    got, hist = _same_on_every_rank(out, "convnet", 2)
    rec, ref_hist = cases.train_convnet(1)
    assert len(rec.steps) == 6  # 3 global batches (8, 8, ragged 4) x 2 epochs
    _close_to_reference(got, rec.steps, "seed convnet, 2 ranks")
    _history_close(hist, ref_hist)
    # the same fit with a DistributedOptimizer: fit reduces once, its hooks stand aside
    got2, hist2 = _same_on_every_rank(out, "convnet_distopt", 2)
    for a_ws, b_ws in zip(got, got2):
        for a, b in zip(a_ws, b_ws):
            np.testing.assert_array_equal(a, b)
    assert hist2 == hist


@needs_mpi
def test_batchnorm_mlp_two_ranks_matches_one_process(two_ranks):
    """Global batch statistics (forward and backward), the moving statistics, an L2
    regulariser counted once, global-norm clipping after the reduction, global metrics, and a
    ragged last batch of 5 (4 + 1 rows)."""
    out, ckpt, _ = two_ranks
    got, hist = _same_on_every_rank(out, "bn_mlp", 2)
    rec, ref_hist = cases.train_bn_mlp(1)
    _close_to_reference(got, rec.steps, "BN MLP, 2 ranks")
    _history_close(hist, ref_hist)
    # the checkpoint rank 0 wrote loads in a single process, with rank 0's final weights
    from deepcore import models

    m = models.load_model(ckpt)
    for w, ref in zip(m.weights, got[-1]):
        np.testing.assert_array_equal(w.numpy(), ref)


@needs_mpi
def test_loss_scaling_two_ranks_matches_one_process(two_ranks):
    """A LossScaleOptimizer in a data-parallel fit whose first scales overflow: every rank
    skips the same steps (the inf reaches all of them through the reduced gradients) and
    halves the scale alike, and the weights follow one process on the combined batch."""
    out, _, _ = two_ranks
    got, hist = _same_on_every_rank(out, "loss_scaled", 2)
    rec, ref_hist, ref_scales = cases.train_loss_scaled(1)
    scales = [np.load(out / f"loss_scaled_scales-{r}.npy") for r in range(2)]
    np.testing.assert_array_equal(scales[0], scales[1])
    np.testing.assert_array_equal(scales[0], ref_scales)
    assert ref_scales[0] == 2.0**130 and ref_scales[-1] == 2.0**127  # skipped, then stepped
    _close_to_reference(got, rec.steps, "loss-scaled BN MLP, 2 ranks")
    _history_close(hist, ref_hist)


@needs_mpi
def test_distributed_optimizer_custom_loop(two_ranks):
    out, _, _ = two_ranks
    got, _ = _same_on_every_rank(out, "custom", 2)
    _close_to_reference(got, cases.custom_loop(1), "custom loop, 2 ranks")


@needs_mpi
def test_distributed_optimizer_around_loss_scaling(two_ranks):
    """A custom loop with DistributedOptimizer(LossScaleOptimizer(SGD)) (Keras's
    ``scale_loss(loss).backward()``) whose first scale, 2**128, overflows float32. A rank's
    overflow reaches every rank through the reduced gradients, so all skip the same steps and
    halve the scale alike; the steps taken are plain SGD on the whole batch (a power-of-two
    scale divides out exactly): one process without scaling that skips those steps."""
    out, _, _ = two_ranks
    got, _ = _same_on_every_rank(out, "custom_scaled", 2)
    scales = [np.load(out / f"custom_scaled_scales-{r}.npy").tolist() for r in range(2)]
    assert scales[0] == scales[1]
    before = [2.0**128] + scales[0][:-1]
    skipped = tuple(k for k, (a, b) in enumerate(zip(before, scales[0])) if b < a)
    assert skipped[0] == 0 and len(skipped) < len(scales[0])  # the first skipped, one taken
    _close_to_reference(got, cases.custom_loop(1, skip=skipped), "loss-scaled custom loop")


@needs_mpi
def test_distributed_optimizer_overlaps_backward(two_ranks):
    """Buckets of 64 bytes (one per tensor) started by the hooks during backward: bitwise the
    weights of reducing after backward, which match one process; two accumulated backward
    passes per step match too; a second backward without backward_passes_per_step=2 raises."""
    out, _, p = two_ranks
    on, _ = _same_on_every_rank(out, "custom_on", 2)
    off, _ = _same_on_every_rank(out, "custom_off", 2)
    accum, _ = _same_on_every_rank(out, "custom_accum", 2)
    for r in range(2):
        assert int(np.load(out / f"custom_on_early-{r}.npy")) > 0
        assert int(np.load(out / f"custom_off_early-{r}.npy")) == 0
        assert int(np.load(out / f"custom_accum_early-{r}.npy")) > 0
        assert np.load(out / f"custom_twice-{r}.npy").tolist() == [1]
    for a_ws, b_ws in zip(on, off):
        for a, b in zip(a_ws, b_ws):
            np.testing.assert_array_equal(a, b)
    ref = cases.custom_loop(1)
    _close_to_reference(on, ref, "overlapped custom loop, 2 ranks")
    _close_to_reference(accum, ref, "2 accumulated passes per step, 2 ranks")
    assert "backward_passes_per_step=1" in p.stdout


@needs_mpi
def test_two_ranks_over_tcp_as_across_machines(two_ranks, tmp_path):
    """Ranks on different machines talk over the network, not shared memory: the same job with
    Open MPI's shared-memory transport switched off (TCP over the loopback interface only)
    gives bitwise the weights of the shared-memory job (the reduction order is the same)."""
    if launch.mpi_flavour(launch.find_mpirun()) != "openmpi":
        pytest.skip("the transport switch is Open MPI's (OMPI_MCA_btl)")
    out, _, _ = two_ranks
    p, _ = mpirun(
        2, tmp_path, "convnet,custom", OMPI_MCA_btl="tcp,self", OMPI_MCA_btl_tcp_if_include="lo"
    )
    assert p.returncode == 0, p.stdout + p.stderr
    for case in ("convnet", "custom"):
        got, hist = _same_on_every_rank(tmp_path, case, 2)
        ref, ref_hist = _same_on_every_rank(out, case, 2)
        for a_ws, b_ws in zip(got, ref):
            for a, b in zip(a_ws, b_ws):
                np.testing.assert_array_equal(a, b)
        assert hist == ref_hist


@needs_mpi
def test_three_ranks_uneven_shards_and_resume(two_ranks, tmp_path):
    """3 ranks: global batches of 8 split 3 + 3 + 2, the ragged 5 split 3 + 2 + 0 (a rank
    without rows); overlapped small buckets; sharded inference of 7 and of 2 rows (a rank
    without rows); then the 2-rank checkpoint resumed on 3 ranks."""
    _, ckpt2, _ = two_ranks
    ckpt3 = str(tmp_path / "bn3.deepcore")
    p, _ = mpirun(3, tmp_path, "bn_mlp,overlap,evaluate7,evaluate2", ckpt3)
    assert p.returncode == 0, p.stdout + p.stderr
    got, hist = _same_on_every_rank(tmp_path, "bn_mlp", 3)
    rec, ref_hist = cases.train_bn_mlp(1)
    _close_to_reference(got, rec.steps, "BN MLP, 3 ranks")
    _history_close(hist, ref_hist)
    _overlap_equals_blocking(tmp_path, 3)
    _sharded_inference_matches_one_process(tmp_path, 3, 7)  # rows 3 + 2 + 2
    _sharded_inference_matches_one_process(tmp_path, 3, 2)  # rows 1 + 1 + 0

    p, _ = mpirun(3, tmp_path, "resume", ckpt2)
    assert p.returncode == 0, p.stdout + p.stderr
    got, hist = _same_on_every_rank(tmp_path, "resume", 3)
    rec, ref_hist = cases.resume_bn_mlp(ckpt2)
    _close_to_reference(got, rec.steps, "resumed on 3 ranks")
    _history_close(hist, ref_hist)


def _overlap_equals_blocking(out: Path, n: int) -> None:
    """Buckets started during backward give bitwise the blocking path's weights and logs."""
    on, h_on = _same_on_every_rank(out, "overlap_on", n)
    off, h_off = _same_on_every_rank(out, "overlap_off", n)
    for r in range(n):  # hooks started buckets during backward on every rank
        assert int(np.load(out / f"overlap_on_early-{r}.npy")) > 0
        assert int(np.load(out / f"overlap_off_early-{r}.npy")) == 0
    assert len(on) == len(off) == 6
    for a_ws, b_ws in zip(on, off):
        for a, b in zip(a_ws, b_ws):
            np.testing.assert_array_equal(a, b)
    assert h_on == h_off


@needs_mpi
def test_overlapped_buckets_equal_blocking_ones(two_ranks):
    """Buckets of 256 bytes (three for the BN MLP), started as their gradients become final
    during backward, between batch norm's own all-reduces: bitwise the result of reducing
    them after backward, which matches one process."""
    out, _, _ = two_ranks
    _overlap_equals_blocking(out, 2)
    rec, _ = cases.train_bn_mlp(1)
    _close_to_reference(_load(out / "overlap_on-0.npz")[0], rec.steps, "overlapped, 2 ranks")


def _sharded_inference_matches_one_process(out: Path, n: int, rows: int) -> None:
    """Validation in fit, evaluate and predict on ``rows`` rows: each rank ran its contiguous
    share of them (counted by an identity layer), every rank returned the same global loss,
    metrics and all predictions in order, and they match one process's."""
    got = [dict(np.load(out / f"evaluate{rows}-{r}.npz")) for r in range(n)]
    for g in got[1:]:
        assert g.keys() == got[0].keys()
        for k in g:
            if k != "rows":
                np.testing.assert_array_equal(g[k], got[0][k], err_msg=k)
    share = [len(a) for a in np.array_split(np.arange(rows), n)]  # the first ranks one more
    assert [int(g["rows"]) for g in got] == [3 * s for s in share]  # validation, evaluate, predict
    ref = cases.evaluate_and_predict(1, rows)
    assert int(ref["rows"]) == 3 * rows and got[0]["pred"].shape == ref["pred"].shape
    assert {"h_val_loss", "h_val_accuracy", "e_loss", "e_accuracy"} <= set(ref)
    for k in ref:
        if k != "rows":
            np.testing.assert_allclose(got[0][k], ref[k], rtol=1e-4, atol=1e-6, err_msg=k)


@needs_mpi
def test_sharded_evaluate_and_predict_two_ranks(two_ranks):
    """7 rows on 2 ranks: 4 + 3."""
    out, _, _ = two_ranks
    _sharded_inference_matches_one_process(out, 2, 7)


@needs_mpi
def test_a_rank_that_raises_ends_the_job(tmp_path):
    p, elapsed = mpirun(2, tmp_path, "fail", timeout=TIMEOUT)
    assert p.returncode != 0
    assert "rank 1 fails on purpose" in p.stderr
    # rank 0, waiting in a collective, got rank 1's notice and failed with its message
    assert "rank 1 of 2 failed: RuntimeError: rank 1 fails on purpose" in p.stderr
    assert elapsed < 60, f"the job took {elapsed:.1f} s to end"


@needs_mpi
def test_a_rank_that_catches_its_error_does_not_hang_the_others(tmp_path):
    """Rank 1's error leaves fit and the script catches it: rank 0, waiting in the next step's
    collective, raises PeerFailure with rank 1's message; rank 1's next collective is refused;
    the job ends with an error status instead of hanging."""
    p, elapsed = mpirun(2, tmp_path, "caught", timeout=TIMEOUT)
    out = p.stdout + p.stderr
    assert p.returncode != 0, out
    assert "rank 1 caught: rank 1 fails on purpose" in p.stdout, out
    assert "rank 1: barrier refused: deepcore.distributed: the job is broken" in p.stdout, out
    assert "rank 1 of 2 failed: RuntimeError: rank 1 fails on purpose (rank 0 stops" in out
    assert elapsed < 60, f"the job took {elapsed:.1f} s to end"


@needs_mpi
def test_a_stuck_rank_times_the_others_out(tmp_path, monkeypatch):
    """Rank 1 stalls outside any collective: with DEEPCORE_DISTRIBUTED_TIMEOUT=1, rank 0 raises
    CollectiveTimeout and ends the job long before rank 1's 60 s stall is over."""
    monkeypatch.setenv("DEEPCORE_DISTRIBUTED_TIMEOUT", "1")
    p, elapsed = mpirun(2, tmp_path, "stall", timeout=TIMEOUT)
    out = p.stdout + p.stderr
    assert p.returncode != 0, out
    assert "CollectiveTimeout: deepcore.distributed: rank 0 of 2 waited" in out, out
    assert elapsed < 40, f"the job took {elapsed:.1f} s to end"


# ---------------------------------------------------------------------- one process
def test_one_process_is_a_world_of_one():
    assert (dist.rank(), dist.world_size(), dist.local_rank()) == (0, 1, 0)
    a = np.arange(4, dtype=np.float32)
    assert dist.allreduce(a) is a and a.tolist() == [0, 1, 2, 3]
    dist.allreduce(a, op="average")
    assert a.tolist() == [0, 1, 2, 3]
    dist.broadcast_parameters([deepcore.tensor(a)])
    dist.barrier()


def test_data_parallel_in_one_process_trains_as_without_it():
    rec, h = cases.train_bn_mlp(3)
    dist.set_distribution(dist.DataParallel())
    try:
        assert dist.distribution() is not None
        rec2, h2 = cases.train_bn_mlp(3)
    finally:
        dist.set_distribution(None)
    assert dist.distribution() is None
    for a_ws, b_ws in zip(rec.steps, rec2.steps):
        for a, b in zip(a_ws, b_ws):
            np.testing.assert_array_equal(a, b)
    assert h == h2


def test_distributed_optimizer_keeps_the_optimizer():
    opt = optim.RMSprop(learning_rate=0.01)
    d = dist.DistributedOptimizer(opt)
    assert isinstance(d, optim.RMSprop) and type(d).__name__ == "RMSprop"
    assert d.get_config() == opt.get_config()
    assert cases.custom_loop(1, wrap=lambda o, m: dist.DistributedOptimizer(o))[-1][0].shape


def test_bad_arguments():
    with pytest.raises(ValueError, match="op must be"):
        dist.allreduce(np.zeros(2, np.float32), op="mean")
    with pytest.raises(TypeError, match="float32, float64"):
        dist.allreduce(np.zeros(2, np.complex64))
    with pytest.raises(TypeError, match="average"):
        dist.allreduce(np.zeros(2, np.int64), op="average")
    with pytest.raises(ValueError, match="contiguous"):
        dist.allreduce(np.zeros((4, 4), np.float32)[:, 1])
    with pytest.raises(TypeError, match="NumPy array or a Tensor"):
        dist.allreduce([1.0, 2.0])
    with pytest.raises(ValueError, match="root"):
        dist.broadcast(np.zeros(2), root=3)
    with pytest.raises(TypeError, match="DataParallel or None"):
        dist.set_distribution("data_parallel")
    with pytest.raises(TypeError, match="Optimizer"):
        dist.DistributedOptimizer(object())
    with pytest.raises(ValueError, match="op must be"):
        dist.DistributedOptimizer(optim.SGD(learning_rate=0.1), op="max")
    with pytest.raises(ValueError, match="backward_passes_per_step"):
        dist.DistributedOptimizer(optim.SGD(learning_rate=0.1), backward_passes_per_step=0)
    with pytest.raises(TypeError, match="overlap"):
        dist.DistributedOptimizer(optim.SGD(learning_rate=0.1), overlap="yes")
    with pytest.raises(ValueError, match="devices"):
        dist.DataParallel(devices=["cpu:0", "cpu:1"])


def test_missing_mpi4py_under_a_launcher_names_the_install_command():
    """A process started by mpirun without mpi4py: a RuntimeError naming the install command."""
    code = (
        "import sys; sys.modules['mpi4py'] = None\n"
        "import deepcore.distributed as d\n"
        "try:\n    d.rank()\nexcept RuntimeError as e:\n    print(e)\n"
    )
    env = dict(os.environ, OMPI_COMM_WORLD_SIZE="2")
    env["PYTHONPATH"] = os.pathsep.join(
        [str(Path(deepcore.__file__).parent.parent), env.get("PYTHONPATH", "")]
    )
    p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert 'pip install "deepcore[distributed]"' in p.stdout, p.stdout + p.stderr


def test_mnist_example_distributed_flag_in_one_process(monkeypatch, capsys):
    """``--distributed`` without mpirun trains as one rank (the README's MPI command runs the
    same code on every rank)."""
    from deepcore.examples import mnist

    monkeypatch.delenv("DEEPCORE_DATA", raising=False)
    r = mnist.main(
        ["--distributed", "--epochs", "1", "--limit", "64", "--verbose", "0", "--no-download"]
    )
    assert 0.0 <= r["test_accuracy"] <= 1.0
    assert dist.distribution() is None  # the scope ended with main()
    assert "data-parallel" in capsys.readouterr().out

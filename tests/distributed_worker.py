"""One rank of the MPI jobs of tests/test_distributed.py: ``distributed_worker.py OUTDIR
CHECKPOINT CASE[,CASE...]`` runs cases of distributed_cases.py under ``DataParallel`` (or the
custom loop under ``DistributedOptimizer``) and saves what each recorded to
OUTDIR/<case>-<rank>.npz."""

from __future__ import annotations

import sys
import time

import deepcore.distributed as dist
import distributed_cases as cases
import numpy as np
from deepcore.models import callbacks as cbks


def save(path: str, rec_steps: list, history: dict | None = None) -> None:
    arrays = {f"s{i}_w{j}": w for i, ws in enumerate(rec_steps) for j, w in enumerate(ws)}
    for k, v in (history or {}).items():
        arrays[f"h_{k}"] = np.asarray(v, np.float64)
    np.savez(path, **arrays)


class RaiseAt(cbks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        if dist.rank() == 1 and batch == 1:
            raise RuntimeError("rank 1 fails on purpose")


class StallAt(cbks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        if dist.rank() == 1 and batch == 1:
            time.sleep(60)  # stuck outside any collective


def fit_that_fails(seed: int, callback: cbks.Callback) -> None:
    import deepcore as dc

    dc.manual_seed(seed)
    model = cases.bn_mlp()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    x, y = cases.table_data(64)
    model.fit(x, y, batch_size=8, epochs=50, verbose=0, callbacks=[callback])


def run(case: str, out: str, ckpt: str) -> None:
    r = dist.rank()
    dist.set_distribution(dist.DataParallel())
    # a different seed per rank: the weights agree only because fit broadcasts rank 0's
    seed = 1 + r
    if case == "convnet":
        rec, h = cases.train_convnet(seed)
    elif case == "convnet_distopt":  # a DistributedOptimizer's hooks stay out of fit's way
        rec, h = cases.train_convnet(
            seed, wrap=lambda o: dist.DistributedOptimizer(o, bucket_bytes=64)
        )
    elif case == "bn_mlp":
        rec, h = cases.train_bn_mlp(seed, checkpoint=ckpt)
    elif case == "loss_scaled":
        rec, h, scales = cases.train_loss_scaled(seed)
        np.save(f"{out}/loss_scaled_scales-{r}.npy", np.asarray(scales))
    elif case == "resume":
        rec, h = cases.resume_bn_mlp(ckpt)
    elif case == "custom":
        dist.set_distribution(None)

        def wrap(opt, model):
            dist.broadcast_parameters(model.parameters(), root=0)
            return dist.DistributedOptimizer(opt, op="average")

        save(f"{out}/{case}-{r}.npz", cases.custom_loop(seed, r, dist.world_size(), wrap))
        return
    elif case == "custom_scaled":
        # DistributedOptimizer around a LossScaleOptimizer whose first scale overflows
        dist.set_distribution(None)

        def wrap(opt, model):
            dist.broadcast_parameters(model.parameters(), root=0)
            return dist.DistributedOptimizer(opt, bucket_bytes=64)

        scales: list[float] = []
        steps = cases.custom_loop(
            seed, r, dist.world_size(), wrap, initial_scale=2.0**128, scales=scales
        )
        save(f"{out}/{case}-{r}.npz", steps)
        np.save(f"{out}/{case}_scales-{r}.npy", np.asarray(scales))
        return
    elif case == "custom_overlap":
        # DistributedOptimizer with small buckets, started during backward or after it, and
        # with two accumulated backward passes per step
        dist.set_distribution(None)
        for name, kw, passes in (
            ("on", {"overlap": True}, 1),
            ("off", {"overlap": False}, 1),
            ("accum", {"backward_passes_per_step": 2}, 2),
        ):
            made = []

            def wrap(opt, model, kw=kw, made=made):
                dist.broadcast_parameters(model.parameters(), root=0)
                made.append(dist.DistributedOptimizer(opt, bucket_bytes=64, **kw))
                return made[-1]

            steps = cases.custom_loop(seed, r, dist.world_size(), wrap, passes)
            save(f"{out}/custom_{name}-{r}.npz", steps)
            np.save(f"{out}/custom_{name}_early-{r}.npy", made[0]._dist_reducer.started_early)
        # a second backward pass in one step without backward_passes_per_step=2 is refused
        dense = cases.layers.Dense(8)
        dense.build((None, 5))
        opt = dist.DistributedOptimizer(
            cases.optim.SGD(dense.parameters(), lr=0.1), bucket_bytes=64
        )
        for k in range(2):
            try:
                sum((p * p).sum() for p in dense.parameters()).backward()
            except RuntimeError as e:
                np.save(f"{out}/custom_twice-{r}.npy", np.array([k]))
                print(f"rank {r} refused pass {k}: {e}", flush=True)
        opt.zero_grad()  # finishes the started buckets on every rank
        dist.barrier()
        return
    elif case == "overlap":
        # small buckets: several start during backward, between batch norm's all-reduces
        for flag in ("on", "off"):
            d = dist.DataParallel(bucket_bytes=256, overlap=flag == "on")
            dist.set_distribution(d)
            rec, h = cases.train_bn_mlp(seed)
            save(f"{out}/overlap_{flag}-{r}.npz", rec.steps, h)
            np.save(f"{out}/overlap_{flag}_early-{r}.npy", d._reducer.started_early)
        return
    elif case.startswith("evaluate"):  # evaluate7: 7 rows to evaluate and predict
        np.savez(f"{out}/{case}-{r}.npz", **cases.evaluate_and_predict(seed, int(case[8:])))
        return
    elif case == "fail":
        fit_that_fails(seed, RaiseAt())
        return
    elif case == "caught":
        # rank 1's error leaves fit, and the script catches it and goes on
        try:
            fit_that_fails(seed, RaiseAt())
        except RuntimeError as e:
            print(f"rank {r} caught: {e}", flush=True)
        try:
            dist.barrier()
        except dist.PeerFailure as e:
            print(f"rank {r}: barrier refused: {e}", flush=True)
        return
    elif case == "stall":
        fit_that_fails(seed, StallAt())
        return
    else:
        raise SystemExit(f"unknown case {case}")
    save(f"{out}/{case}-{r}.npz", rec.steps, h)


def main() -> None:
    """distributed_worker.py OUTDIR CHECKPOINT CASE[,CASE...]"""
    out, ckpt, names = sys.argv[1], sys.argv[2], sys.argv[3]
    for case in names.split(","):
        run(case, out, ckpt)


if __name__ == "__main__":
    main()

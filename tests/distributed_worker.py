"""One rank of the MPI jobs of tests/test_distributed.py: ``distributed_worker.py OUTDIR
CHECKPOINT CASE[,CASE...]`` runs cases of distributed_cases.py under ``DataParallel`` (or the
custom loop under ``DistributedOptimizer``) and saves what each recorded to
OUTDIR/<case>-<rank>.npz."""

from __future__ import annotations

import sys

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


def run(case: str, out: str, ckpt: str) -> None:
    r = dist.rank()
    dist.set_distribution(dist.DataParallel())
    # a different seed per rank: the weights agree only because fit broadcasts rank 0's
    seed = 1 + r
    if case == "convnet":
        rec, h = cases.train_convnet(seed)
    elif case == "bn_mlp":
        rec, h = cases.train_bn_mlp(seed, checkpoint=ckpt)
    elif case == "resume":
        rec, h = cases.resume_bn_mlp(ckpt)
    elif case == "custom":
        dist.set_distribution(None)

        def wrap(opt, model):
            dist.broadcast_parameters(model.parameters(), root=0)
            return dist.DistributedOptimizer(opt, op="average")

        save(f"{out}/{case}-{r}.npz", cases.custom_loop(seed, r, dist.world_size(), wrap))
        return
    elif case == "fail":
        import deepcore as dc

        dc.manual_seed(seed)
        model = cases.bn_mlp()
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        x, y = cases.table_data(64)
        model.fit(x, y, batch_size=8, epochs=50, verbose=0, callbacks=[RaiseAt()])
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

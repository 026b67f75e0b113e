"""Why the training defaults: LOCO accuracy of the CNN for a few settings on one dataset.

Compares momentum (0 vs 0.9), batch size (8 vs 32) and input scaling (log1p vs none) at the
paper's learning rate, each with the same seed and epochs.

Usage::

    python benchmarks/bench_defaults.py DATASET.npz --epochs 100
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import torch

from napari_mousestop.datasets.dataset import load_dataset
from napari_mousestop.learning.config import TrainConfig
from napari_mousestop.learning.training import loco_cv

SETTINGS = {
    "defaults (momentum 0.9, batch 8, log1p)": {},
    "plain SGD (momentum 0)": {"momentum": 0.0},
    "batch 32": {"batch_size": 32},
    "no input scaling": {"scaling": "none"},
}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("dataset")
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)  # this benchmark's process
    ds = load_dataset(a.dataset)
    out = {"dataset": a.dataset, "shape": list(ds.X.shape), "epochs": a.epochs, "results": {}}
    for name, change in SETTINGS.items():
        config = TrainConfig(epochs=a.epochs, seed=a.seed, **change)
        t0 = time.perf_counter()
        cv = loco_cv(ds, config)
        final_loss = float(np.mean([f.history["train_loss"][-1] for f in cv.folds]))
        acc = float(np.mean(cv.oof_pred == ds.labels))
        out["results"][name] = {
            "accuracy": acc,
            "final_train_loss": final_loss,
            "seconds": time.perf_counter() - t0,
        }
        print(f"{name:42s} accuracy {acc:.3f}  final training loss {final_loss:.3f}", flush=True)
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(out, fh, indent=1)
    return out


if __name__ == "__main__":
    main(sys.argv[1:])

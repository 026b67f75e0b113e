"""Tiny labelled datasets and models for the widget tests (seconds, not minutes)."""

from __future__ import annotations

import numpy as np

from napari_mousestop.cohort import CLASSES
from napari_mousestop.dataset import Dataset, save_dataset

# where each class (AM, JM, AF, JF) stops more often: a 2x2 block of bins
SPOTS = ((2, 2), (2, 10), (10, 2), (10, 10))


def tiny_dataset(n_cages: int = 4, per_cage: int = 2, n_intervals: int = 3, n_bins: int = 14,
                 seed: int = 0) -> Dataset:  # fmt: skip
    """Cages alternate male/female, each recorded as juveniles and adults; each class has a
    hot spot of extra stops in its corner."""
    rng = np.random.default_rng(seed)
    X, labels, cages, recs, animals = [], [], [], [], []
    for c in range(n_cages):
        sex = "M" if c % 2 == 0 else "F"
        for age in ("J", "A"):
            label = CLASSES.index(age + sex)
            for a in range(per_cage):
                rate = np.full((n_intervals, n_bins, n_bins), 0.3)
                y, x = SPOTS[label]
                rate[:, y : y + 2, x : x + 2] += 8.0
                X.append(rng.poisson(rate).astype(np.float32))
                labels.append(label)
                cages.append(f"cage{c}")
                recs.append(f"cage{c}_{age}.sqlite")
                animals.append(f"rfid{c}{age}{a}")
    return Dataset(
        X=np.stack(X), labels=np.array(labels), cages=np.array(cages),
        recordings=np.array(recs), animals=np.array(animals),
        params={"histogram": {"interval_s": 3600.0, "n_intervals": n_intervals,
                              "n_bins": n_bins}},
    )  # fmt: skip


def saved_dataset(tmp_path, **kwargs) -> tuple[Dataset, str]:
    """A tiny dataset and the .npz it was saved to."""
    ds = tiny_dataset(**kwargs)
    return ds, str(save_dataset(ds, tmp_path / "tiny.npz"))


def saved_model(tmp_path, dataset: Dataset, epochs: int = 3) -> str:
    """A briefly trained all-data model of ``dataset``, saved as model.pt."""
    from napari_mousestop.training import TrainConfig, save_checkpoint, train_final

    ckpt = train_final(dataset, TrainConfig(epochs=epochs, batch_size=8, seed=0))
    return str(save_checkpoint(tmp_path / "model.pt", ckpt))

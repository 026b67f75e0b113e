"""Small datasets with a planted, class-specific hot spot (shared by the training tests)."""

from __future__ import annotations

import numpy as np

from napari_mousestop.datasets.dataset import Dataset
from napari_mousestop.io.cohort import CLASSES

# Where each class (AM, JM, AF, JF) stops more often: a 2x2 block of bins.
SPOTS = ((2, 2), (2, 10), (10, 2), (10, 10))


def planted_dataset(
    n_cages: int = 8,
    per_cage: int = 4,
    n_intervals: int = 4,
    n_bins: int = 14,
    strength: float = 6.0,
    seed: int = 0,
    background: float = 0.5,
) -> Dataset:
    """Cages alternate male/female; each cage is recorded as juveniles and as adults.

    Every animal has Poisson background stops (``background`` expected per bin and hour); its
    class adds ``strength`` expected stops per hour in the class's 2x2 spot.
    """
    rng = np.random.default_rng(seed)
    X, labels, cages, recordings, animals = [], [], [], [], []
    for c in range(n_cages):
        sex = "M" if c % 2 == 0 else "F"
        for age in ("J", "A"):
            label = CLASSES.index(age + sex)
            for a in range(per_cage):
                rate = np.full((n_intervals, n_bins, n_bins), background)
                y, x = SPOTS[label]
                rate[:, y : y + 2, x : x + 2] += strength
                X.append(rng.poisson(rate).astype(np.float32))
                labels.append(label)
                cages.append(f"cage{c}")
                recordings.append(f"cage{c}_{age}.sqlite")
                animals.append(f"rfid{c}{a}")
    return Dataset(
        X=np.stack(X),
        labels=np.array(labels),
        cages=np.array(cages),
        recordings=np.array(recordings),
        animals=np.array(animals),
        params={"histogram": {"interval_s": 3600, "n_intervals": n_intervals, "n_bins": n_bins}},
    )


def recording_model(path, hist):
    """A one-epoch model on a small planted dataset whose parameters say how raw recordings are
    binned (``hist``, the default stops, the mouse cage), saved to ``path``: what `predict`
    needs to classify a recording."""
    from napari_mousestop.io.geometry import CageGeometry
    from napari_mousestop.learning.checkpoint import save_checkpoint
    from napari_mousestop.learning.config import TrainConfig
    from napari_mousestop.learning.training import train_final
    from napari_mousestop.stops import StopParams

    ds = planted_dataset(n_cages=2, per_cage=2, n_intervals=hist.n_intervals, n_bins=hist.n_bins)
    ds.params = {
        "histogram": hist.to_dict(),
        "stops": StopParams().to_dict(),
        "geometry": CageGeometry.mouse().to_dict(),
    }
    return save_checkpoint(path, train_final(ds, TrainConfig(epochs=1)))

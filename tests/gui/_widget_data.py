"""Tiny labelled datasets and models for the widget tests (seconds, not minutes)."""

from __future__ import annotations

from _planted import planted_dataset
from napari_mousestop.datasets.dataset import Dataset, save_dataset


def tiny_dataset(n_cages: int = 4, per_cage: int = 2, n_intervals: int = 3, n_bins: int = 14,
                 seed: int = 0) -> Dataset:  # fmt: skip
    """A planted dataset small enough for widget tests: a strong hot spot per class."""
    return planted_dataset(n_cages, per_cage, n_intervals, n_bins, strength=8.0, seed=seed,
                           background=0.3)  # fmt: skip


def saved_dataset(tmp_path, **kwargs) -> tuple[Dataset, str]:
    """A tiny dataset and the .npz it was saved to."""
    ds = tiny_dataset(**kwargs)
    return ds, str(save_dataset(ds, tmp_path / "tiny.npz"))


def saved_model(tmp_path, dataset: Dataset, epochs: int = 3) -> str:
    """A briefly trained all-data model of ``dataset``, saved as model.pt."""
    from napari_mousestop.learning.checkpoint import save_checkpoint
    from napari_mousestop.learning.config import TrainConfig
    from napari_mousestop.learning.training import train_final

    ckpt = train_final(dataset, TrainConfig(epochs=epochs, batch_size=8, seed=0))
    return str(save_checkpoint(tmp_path / "model.pt", ckpt))

"""The paper's baselines: PCA(3) of the flattened stacks + 1-NN, and + SVM, in the CNN's folds.

The PCA is part of a scikit-learn pipeline fitted on each training fold only, so the held-out
cage never shapes the components.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.decomposition import PCA
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.svm import SVC

from napari_mousestop.datasets.dataset import Dataset
from napari_mousestop.learning.config import TrainConfig
from napari_mousestop.learning.training import check_trainable, cv_folds

BASELINES = ("pca_1nn", "pca_svm")
"""Baseline names, in report order."""


@dataclass
class BaselineResult:
    """Out-of-fold predictions of one baseline.

    Attributes
    ----------
    name
        ``"pca_1nn"`` or ``"pca_svm"``.
    description
        Human-readable definition.
    oof_pred
        Predicted class index per sample (by the model of the fold that held it out).
    accuracy
        Fraction of samples predicted correctly.
    explained_variance
        Per fold, the variance ratio explained by each PCA component.
    """

    name: str
    description: str
    oof_pred: np.ndarray
    accuracy: float
    explained_variance: list[list[float]]


def make_baseline(name: str, n_components: int = 3, seed: int = 0) -> Pipeline:
    """An unfitted pipeline: PCA(``n_components``) then 1-NN (``pca_1nn``) or an SVM (``pca_svm``).

    The SVM is scikit-learn's default RBF ``SVC`` (C=1, gamma="scale").
    """
    pca = PCA(n_components=n_components, random_state=seed)
    if name == "pca_1nn":
        return make_pipeline(pca, KNeighborsClassifier(n_neighbors=1))
    if name == "pca_svm":
        return make_pipeline(pca, SVC(kernel="rbf", C=1.0, gamma="scale", random_state=seed))
    raise ValueError(f"unknown baseline {name!r}; choose from {BASELINES}")


def _describe(name: str, n_components: int) -> str:
    model = "1-nearest neighbour" if name == "pca_1nn" else "RBF SVM (C=1, gamma=scale)"
    return (
        f"PCA({n_components}) of the flattened stacks, then {model}; PCA fitted per training fold"
    )


def run_baselines(
    dataset: Dataset,
    names: tuple[str, ...] = BASELINES,
    n_components: int = 3,
    seed: int = 0,
    folds: str = "cage",
) -> dict[str, BaselineResult]:
    """Run each baseline in the cross-validation folds of the CNN.

    Parameters
    ----------
    dataset
        The stacks and labels (flattened to n x (T*N*N), raw counts as the paper).
    names
        Which baselines (see :data:`BASELINES`).
    n_components
        PCA components (the paper's 3).
    seed
        Seed of the randomised parts (PCA solver, SVM).
    folds
        ``"cage"`` (leave one cage out) or ``"balanced"``: the CNN's ``TrainConfig.folds``.

    Returns
    -------
    dict
        ``{name: BaselineResult}`` in the order of ``names``.
    """
    check_trainable(dataset, TrainConfig(folds=folds), cv=True)
    X = dataset.X.reshape(len(dataset), -1)
    y = dataset.labels
    splits = cv_folds(dataset.cages, y, folds)
    smallest_train = min(len(train) for _, train, _ in splits)
    if n_components > min(smallest_train, X.shape[1]):
        raise ValueError(
            f"baselines: PCA({n_components}) needs at least {n_components} training samples "
            f"and features per fold (smallest fold trains on {smallest_train})"
        )
    results = {}
    for name in names:
        pred = np.full(len(y), -1, dtype=np.int64)
        variance = []
        for _, train, test in splits:
            pipe = make_baseline(name, n_components, seed)
            if len(np.unique(y[train])) < 2:
                pred[test] = y[train][0]  # a one-class training fold predicts that class
                variance.append([])
                continue
            pipe.fit(X[train], y[train])
            pred[test] = pipe.predict(X[test])
            variance.append(pipe[0].explained_variance_ratio_.tolist())
        results[name] = BaselineResult(
            name=name,
            description=_describe(name, n_components),
            oof_pred=pred,
            accuracy=float(np.mean(pred == y)),
            explained_variance=variance,
        )
    return results

"""Folds in worker processes: the same predictions, progress from every fold, a cancel that
stops every worker, repeated seeds, the full-pipeline permutation test and its resume."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest

import napari_mousestop.cluster as cluster_module
from _planted import planted_dataset
from _processes import children, workers_left
from napari_mousestop.errors import Cancelled, ClusterError
from napari_mousestop.learning.config import TrainConfig
from napari_mousestop.learning.parallel import worker_device
from napari_mousestop.learning.permutation import PermutationPlan, retrained_permutation_test
from napari_mousestop.learning.stats import accuracy
from napari_mousestop.learning.training import cv_folds, loco_cv, train_models

pytestmark = pytest.mark.slow  # worker processes take seconds to start


@pytest.fixture(scope="module")
def planted():
    return planted_dataset(n_cages=4, per_cage=2, strength=4.0)


@pytest.fixture(scope="module")
def cluster():
    """An already running cluster, as a user's `dask scheduler` + `dask worker` would be."""
    from dask.distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as lc:
        with Client(lc) as client:
            yield lc.scheduler_address, client


def _same_runs(a, b):
    np.testing.assert_array_equal(a.oof_proba, b.oof_proba)
    for fa, fb in zip(a.folds, b.folds, strict=True):
        assert fa.cage == fb.cage and fa.history == fb.history
        for pa, pb in zip(fa.model.parameters(), fb.model.parameters(), strict=True):
            assert np.array_equal(pa.detach().numpy(), pb.detach().numpy())


def test_folds_in_two_worker_processes_give_the_sequential_predictions(planted):
    config = TrainConfig(epochs=3, seed=5)  # the test process runs 1 torch thread (conftest)
    here = loco_cv(planted, config)
    seen = []
    there = loco_cv(planted, config, progress=seen.append, workers=2)
    _same_runs(here, there)
    assert there.config == config and all(f.seconds > 0 for f in there.folds)
    # every epoch of every fold was reported once, whichever worker trained it, on one count
    # over the whole run (one progress bar)
    n_folds = len(there.folds)
    assert sorted((p.fold, p.epoch) for p in seen) == [
        (k, e) for k in range(1, n_folds + 1) for e in range(1, 4)
    ]
    assert [p.done for p in seen] == list(range(1, 3 * n_folds + 1))
    assert {p.total for p in seen} == {3 * n_folds}
    assert {p.n_models for p in seen} == {n_folds}
    assert {p.cage for p in seen} == {f.cage for f in there.folds}


def test_an_existing_cluster_trains_the_folds_with_the_same_results(planted, cluster):
    address, client = cluster
    config = TrainConfig(epochs=2, seed=1, folds="balanced")
    here = loco_cv(planted, config)
    there = loco_cv(planted, config, scheduler=address)
    _same_runs(here, there)
    # one torch thread in each worker process
    assert set(client.run(lambda: __import__("torch").get_num_threads()).values()) == {1}


def test_an_unreachable_scheduler_is_one_clear_error(planted, monkeypatch):
    monkeypatch.setattr(cluster_module, "SCHEDULER_TIMEOUT", "1s")
    with pytest.raises(ClusterError, match="cannot reach the dask scheduler 'tcp://127.0.0.1:9'"):
        loco_cv(planted, TrainConfig(epochs=1), scheduler="tcp://127.0.0.1:9")


def _cancel_after_first_epoch(run, seen):
    first = threading.Event()

    def progress(p):
        seen.append(p)
        first.set()

    started = time.monotonic()
    with pytest.raises(Cancelled):
        run(progress, first.is_set)
    return time.monotonic() - started


def test_cancel_stops_every_job_on_a_running_cluster(planted, cluster):
    address, client = cluster
    seen: list = []
    config = TrainConfig(epochs=100_000, seed=0)  # would run for hours
    _cancel_after_first_epoch(
        lambda cb, stop: loco_cv(planted, config, cb, stop, scheduler=address), seen
    )
    assert seen  # it was running
    # nothing of the run is left on any worker, and the workers are still there for others
    assert all(not tasks for tasks in client.processing().values())
    assert len(client.scheduler_info()["workers"]) == 2


def test_cancel_ends_the_local_worker_processes(planted):
    before = children()
    seen: list = []
    config = TrainConfig(epochs=100_000, seed=0)
    _cancel_after_first_epoch(lambda cb, stop: loco_cv(planted, config, cb, stop, workers=2), seen)
    assert seen
    left = workers_left(before)
    assert not left, [p.cmdline() for p in left]


def test_repeats_are_runs_with_consecutive_seeds_and_train_with_the_final_model(planted, cluster):
    address, _ = cluster
    config = TrainConfig(epochs=2, seed=7)
    runs, final = train_models(planted, config, repeats=2, scheduler=address)
    assert [r.config.seed for r in runs] == [7, 8]
    for run in runs:
        _same_runs(run, loco_cv(planted, TrainConfig(epochs=2, seed=run.config.seed)))
    assert final is not None and final.meta["trained_on"] == "all"
    assert final.scaler.n_fit == len(planted)


def test_worker_devices_spread_over_the_gpus(monkeypatch):
    import torch

    assert worker_device("cpu", 3) == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert worker_device("auto", 1) == "auto"  # no CUDA: the config's own choice (CPU)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert [worker_device("auto", i) for i in range(4)] == ["cuda:0", "cuda:1"] * 2
    assert worker_device("cuda", "gpu-3") == "cuda:1"
    assert worker_device("cuda", "tcp://10.0.0.5:40213") == "cuda:0"  # no number in the name
    assert worker_device("cuda:1", 0) == "cuda:1"  # an explicit device is kept
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert worker_device("auto", 5) == "cuda"  # one GPU, shared by every worker


def test_permutations_relabel_whole_cages_and_retrain(tmp_path):
    # 8 cages: 70 x 2^8 relabellings, so that drawing one as learnable as the truth (itself,
    # or every cage's ages swapped) is rare; with 4 cages it is 1 in 48
    planted = planted_dataset(n_cages=8, per_cage=2, strength=4.0)
    config = TrainConfig(epochs=6, lr=0.05, seed=3)
    observed = accuracy(planted.labels, loco_cv(planted, config).oof_pred)
    plan = PermutationPlan(planted, config, 4, tmp_path / "perm")
    n_folds = len(cv_folds(planted.cages, planted.labels, config.folds))
    assert plan.resumed == 0 and len(plan.jobs) == 4 * n_folds
    for i in range(4):
        labels = plan.labels(i)
        np.testing.assert_array_equal(labels, plan.labels(i))  # one draw per permutation
        for cage in np.unique(planted.cages):
            in_cage = labels[planted.cages == cage]
            assert len({planted.classes[k][1] for k in in_cage}) == 1  # one sex per cage
            ages = {planted.classes[k][0] for k in in_cage}
            assert ages == {"A", "J"}  # a juvenile and an adult recording per cage
            for rec in np.unique(planted.recordings[planted.cages == cage]):
                assert len(set(labels[planted.recordings == rec])) == 1
    result = retrained_permutation_test(planted, config, 4, observed, tmp_path / "perm")
    assert result.observed == observed and result.n_permutations == 4
    assert result.unit == "cage + recording within cage" and "retrained" in result.assumes
    assert result.n_labellings == 70 * 2**8 and not result.exact
    # the planted places are learned; relabelled cohorts are not: p is the smallest possible
    assert observed == 1.0 and result.null_mean < 0.5 and result.p_value == pytest.approx(1 / 5)
    files = sorted((tmp_path / "perm").glob("perm_*.json"))
    assert [f.name for f in files] == [f"perm_{i:05d}.json" for i in range(1, 5)]
    doc = json.loads(files[0].read_text())
    assert doc["labels"] == plan.labels(0).tolist() and len(doc["predicted"]) == len(planted)


def test_a_design_with_few_labellings_retrains_each_once(tmp_path):
    # 2 cages (one of each sex), juvenile and adult: 2 x 2**2 = 8 labellings in all, so a test
    # asked for 20 permutations retrains each of the 8 once (exact; p never below 1/8)
    two = planted_dataset(n_cages=2, per_cage=2, strength=4.0)
    plan = PermutationPlan(two, TrainConfig(epochs=1, seed=0), 20, tmp_path / "perm")
    assert plan.n == 8 and plan.scheme.exact and plan.scheme.min_p == 1 / 8
    drawn = {tuple(plan.labels(i).tolist()) for i in range(plan.n)}
    assert len(drawn) == 8 and tuple(two.labels.tolist()) in drawn
    n_folds = len(cv_folds(two.cages, two.labels, "cage"))
    assert len(plan.jobs) == 8 * n_folds


def test_an_interrupted_permutation_test_resumes_from_its_files(planted, cluster, tmp_path):
    config = TrainConfig(epochs=2, seed=0)
    folder = tmp_path / "perm"
    seen: list = []

    def stop_after_one_permutation():
        return len(list(folder.glob("perm_*.json"))) >= 1

    with pytest.raises(Cancelled):
        retrained_permutation_test(
            planted, config, 3, 0.5, folder, seen.append, stop_after_one_permutation
        )
    assert {p.stage for p in seen} == {"permutation"} and {p.n_permutations for p in seen} == {3}
    kept = {f.name: f.read_text() for f in folder.glob("perm_*.json")}
    assert kept
    resumed = PermutationPlan(planted, config, 3, folder)
    n_folds = len(cv_folds(planted.cages, planted.labels, config.folds))
    assert resumed.resumed == len(kept) and len(resumed.jobs) == (3 - len(kept)) * n_folds
    full = retrained_permutation_test(planted, config, 3, 0.5, folder, scheduler=cluster[0])
    assert {f.name: f.read_text() for f in folder.glob("perm_*.json") if f.name in kept} == kept
    # the same test run from scratch in one go gives the same null
    fresh = retrained_permutation_test(planted, config, 3, 0.5, tmp_path / "fresh")
    assert (fresh.p_value, fresh.null_mean) == (full.p_value, full.null_mean)
    # files of other settings are not reused
    other = PermutationPlan(planted, TrainConfig(epochs=3, seed=0), 3, folder)
    assert other.resumed == 0


def test_workers_keep_glibcs_adaptive_malloc_and_train_with_one_thread():
    """Dask's nanny sets MALLOC_TRIM_THRESHOLD_, which made training 1.8x slower (a page
    fault for every large array): our local workers start without it from a clean process,
    and workers that have it (inherited, or on a running cluster) get large thresholds back
    before their first task. Torch has one thread in each worker, even when the calling
    process has no OMP_NUM_THREADS (the nanny sets it; the library never sets threads)."""
    import os
    import subprocess
    import sys

    code = (
        "import os\n"
        "from napari_mousestop.cluster import dask_client, untrim_malloc\n"
        "if __name__ == '__main__':\n"
        "    with dask_client(None, 1) as c:\n"
        "        print(list(c.run(lambda: 'MALLOC_TRIM_THRESHOLD_' in os.environ).values()))\n"
        "        print(list(c.run(lambda: __import__('torch').get_num_threads()).values()))\n"
        "    print('MALLOC_TRIM_THRESHOLD_' in os.environ, untrim_malloc())\n"
    )
    unset = ("MALLOC_TRIM_THRESHOLD_", "OMP_NUM_THREADS")
    base = {k: v for k, v in os.environ.items() if k not in unset}
    out = subprocess.run([sys.executable, "-c", code], env=base, capture_output=True, text=True)
    assert out.stdout.split("\n")[:3] == ["[False]", "[1]", "False False"], out.stderr[-2000:]
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "from napari_mousestop.cluster import untrim_malloc as u; print(u())",
        ],
        env={**base, "MALLOC_TRIM_THRESHOLD_": "65536"},
        capture_output=True,
        text=True,
    )
    assert out.stdout.strip() == "True", out.stderr

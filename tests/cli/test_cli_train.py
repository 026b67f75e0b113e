"""`mousestop train` and `mousestop predict` from the command line."""

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from _planted import planted_dataset
from napari_mousestop.cli.app import app
from napari_mousestop.datasets.dataset import save_dataset
from napari_mousestop.learning.checkpoint import load_checkpoint
from napari_mousestop.learning.report import load_run

runner = CliRunner()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    ds = planted_dataset(n_cages=4, per_cage=2, strength=4.0)
    data = save_dataset(ds, root / "planted.npz")
    out = root / "run"
    # default --workers: folds in worker processes (one per core), with every option of a
    # careful run: 2 seeds and a full-pipeline permutation test of 3 relabellings
    args = ["train", str(data), "-o", str(out), "--epochs", "4", "--seed", "2", "--quiet"]
    result = runner.invoke(
        app, [*args, "--permutations", "200", "--repeats", "2", "--retrain-permutations", "3"]
    )
    assert result.exit_code == 0, result.output
    return ds, data, out, result.output


def test_train_writes_the_run_folder(run):
    ds, data, out, output = run
    assert "CNN accuracy" in output and "cage-level interval" in output
    assert "design: experimental unit cage; sex between cages; age within a cage" in output
    assert "CNN minus pca_1nn" in output and "CNN minus pca_svm" in output
    report = json.loads((out / "report.json").read_text())
    assert report["format"] == "napari-mousestop-run/2"
    cnn = report["cnn"]
    assert 0 <= cnn["accuracy"]["interval"]["low"] <= cnn["accuracy"]["value"]
    assert cnn["accuracy"]["interval"]["method"].startswith(
        "Wilson on the cage-corrected effective n, t over 4 cages (df 3)"
    )
    assert "independent" in cnn["animal_interval"]["assumes"]
    assert set(cnn["accuracy"]["per_cage"]) == {"cage0", "cage1", "cage2", "cage3"}
    perm = report["permutation"]
    assert perm["unit"] == "cage + recording within cage" and perm["assumes"]
    # 4 cages: 6 sex x 16 age labellings, all used (not the 200 asked for), p >= 1/96
    assert perm["n_labellings"] == 96 and perm["exact"] and perm["n_permutations"] == 96
    assert perm["p_value"] >= perm["min_p"] == pytest.approx(1 / 96)
    assert set(report["factors"]) == {"sex", "age"}
    assert report["factors"]["sex"]["permutation"]["unit"] == "cage"
    assert report["factors"]["age"]["permutation"]["unit"] == "recording within cage"
    # the design table and the tests: primary named in advance, the others Holm-adjusted
    design = report["design"]
    assert design["experimental_unit"] == "cage" and design["n_cages"] == 4
    assert [(f["name"], f["level"]) for f in design["factors"]] == [
        ("sex", "cage"), ("age", "recording")]  # fmt: skip
    assert design["per_class"]["AM"]["cages"] == 2
    roles = [(t["test"].split(":")[0], t["role"]) for t in report["tests"]]
    assert roles[0] == ("accuracy", "primary") and all(r == "secondary" for _, r in roles[1:])
    secondary = [t for t in report["tests"] if t["role"] == "secondary"]
    assert all(t["p_holm"] >= t["p"] for t in secondary)
    # every baseline is compared with the CNN, none picked after the fact
    assert set(report["comparisons"]) == set(report["baselines"]) == {"pca_1nn", "pca_svm"}
    assert report["comparisons"]["pca_1nn"]["test"]["exact"] is True
    # a held-out male cage leaves 2 AM among 12 training animal-recordings: below chance
    assert report["null_reference"]["frequency_guess"] == pytest.approx(2 / 12)
    assert report["fold_scheme"]["name"] == "cage" and report["config"]["folds"] == "cage"
    assert "fixed before training" in report["settings_note"]
    assert report["config"]["dataset"] == str(data)
    assert report["config"]["seed"] == 2 and report["config"]["epochs"] == 4
    assert np.sum(cnn["confusion_matrix"]) == len(ds)
    assert len(report["predictions"]) == len(ds)
    assert [f["cage"] for f in report["folds"]] == ["cage0", "cage1", "cage2", "cage3"]
    assert all(len(f["learning_curves"]["train_loss"]) == 4 for f in report["folds"])
    for png in ("confusion_matrix.png", "learning_curves.png", "accuracy_by_cage.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (out / "report.md").read_text()
    assert "Cross-validation results" in md and "## Design" in md
    assert "Experimental unit: **cage**" in md and "p (Holm)" in md
    assert md.count("*Assumes:*") >= 8 and "recording order" in md
    oof = pd.read_csv(out / "predictions.csv")
    assert len(oof) == len(ds) and {"p_AM", "p_JM", "p_AF", "p_JF"} <= set(oof.columns)


def test_repeats_and_the_full_pipeline_permutation_test_are_reported(run):
    ds, _, out, output = run
    assert "full-pipeline permutation test (retrained 3 times)" in output
    assert "2 seeds: accuracy mean" in output
    report = json.loads((out / "report.json").read_text())
    rep = report["repeats"]
    assert rep["seeds"] == [2, 3] and len(rep["accuracy"]["values"]) == 2
    assert rep["accuracy"]["values"][0] == report["cnn"]["accuracy"]["value"]  # seed 2 is the run
    assert set(rep["per_class"]) == set(ds.classes)
    assert np.sum(rep["ensemble"]["confusion_matrix"]) == len(ds)
    retrained = report["retrained_permutation"]
    assert retrained["n_permutations"] == 3 and retrained["unit"] == "cage + recording within cage"
    assert report["tests"][0]["test"].startswith("accuracy: full-pipeline")
    assert report["tests"][0]["role"] == "primary"
    assert retrained["observed"] == report["cnn"]["accuracy"]["value"]
    assert retrained["p_value"] in (0.25, 0.5, 0.75, 1.0)
    assert report["config"]["repeats"] == 2 and report["config"]["retrain_permutations"] == 3
    assert report["config"]["execution"]["workers"] >= 1
    # every seed's fold models are kept; the first seed's are the ones explained
    for cage in ("cage0", "cage1", "cage2", "cage3"):
        ckpt = load_checkpoint(out / "repeats" / "seed_3" / f"{cage}.pt", ds)
        assert ckpt.meta["held_out_cage"] == cage and ckpt.config["seed"] == 3
    assert len(list((out / "permutations").glob("perm_*.json"))) == 3
    md = (out / "report.md").read_text()
    assert "full-pipeline permutation test" in md and "CNN ensemble of 2 seeds" in md
    assert "ensemble" in pd.read_csv(out / "predictions.csv").columns


def test_a_rerun_in_this_process_resumes_the_permutations_and_gives_the_same_report(run, tmp_path):
    import shutil

    _, data, out, _ = run
    again = tmp_path / "again"
    shutil.copytree(out, again)
    args = ["train", str(data), "-o", str(again), "--epochs", "4", "--seed", "2", "-q"]
    more = ["--permutations", "200", "--repeats", "2", "--retrain-permutations", "3"]
    result = runner.invoke(app, [*args, *more, "--workers", "0", "--threads", "1"])
    assert result.exit_code == 0, result.output
    first = json.loads((out / "report.json").read_text())
    second = json.loads((again / "report.json").read_text())
    assert second["config"]["execution"]["permutations_resumed"] == 3
    assert second["config"]["execution"]["workers"] == 0
    for key in ("cnn", "repeats", "retrained_permutation", "permutation", "predictions"):
        assert second[key] == first[key], key


def test_balanced_folds_from_the_command_line(run, tmp_path):
    ds, data, _, _ = run
    out = tmp_path / "balanced"
    args = ["train", str(data), "-o", str(out), "--epochs", "2", "--workers", "0"]
    result = runner.invoke(app, [*args, "--folds", "balanced", "--permutations", "50", "-q"])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert report["fold_scheme"]["name"] == "balanced"
    assert [f["cages"] for f in report["folds"]] == [["cage0", "cage1"], ["cage2", "cage3"]]
    assert report["null_reference"]["frequency_guess"] == pytest.approx(0.25)
    # the fold models, as explanation code finds them: every sample held out exactly once,
    # by the model of the fold that never saw its cage
    run_back = load_run(out)
    assert run_back.fold_scheme == "balanced"
    assert [f.cages for f in run_back.folds] == [("cage0", "cage1"), ("cage2", "cage3")]
    for fold in run_back.folds:
        assert set(ds.cages[fold.test_index]) == set(fold.cages)
        assert fold.checkpoint.meta["held_out_cages"] == list(fold.cages)
    tested = np.sort(np.concatenate([f.test_index for f in run_back.folds]))
    np.testing.assert_array_equal(tested, np.arange(len(ds)))
    bad = runner.invoke(app, [*args, "--folds", "animal", "-q"])
    assert bad.exit_code == 1 and "folds must be one of" in bad.output


def test_a_run_of_the_previous_format_still_loads(run, tmp_path):
    import shutil

    _, _, out, _ = run
    old = tmp_path / "old"
    shutil.copytree(out, old)
    report = json.loads((old / "report.json").read_text())
    previous = {
        "format": "napari-mousestop-run/1",
        "accuracy": report["cnn"]["accuracy"]["value"],
        "ci95": [0.1, 0.9],
        "config": {k: v for k, v in report["config"].items() if k != "folds"},
        "folds": [{"cage": f["cage"], "model": f["model"]} for f in report["folds"]],
        "predictions": report["predictions"],
    }
    (old / "report.json").write_text(json.dumps(previous))
    back = load_run(old)
    assert back.fold_scheme == "cage" and [f.cages for f in back.folds][0] == ("cage0",)
    previous["format"] = "napari-mousestop-run/9"
    (old / "report.json").write_text(json.dumps(previous))
    with pytest.raises(ValueError, match="report format 'napari-mousestop-run/9'"):
        load_run(old)


def test_fold_models_never_saw_their_cage(run):
    ds, _, out, _ = run
    for cage in ("cage0", "cage1", "cage2", "cage3"):
        ckpt = load_checkpoint(out / "folds" / f"{cage}.pt", ds)
        assert ckpt.meta["held_out_cage"] == cage and ckpt.meta["held_out_cages"] == [cage]
        assert set(ds.cages[ckpt.meta["test_index"]]) == {cage}
        assert ckpt.scaler.n_fit == int(np.sum(ds.cages != cage))
    assert load_checkpoint(out / "model.pt", ds).scaler.n_fit == len(ds)
    run_back = load_run(out)
    tested = np.sort(np.concatenate([f.test_index for f in run_back.folds]))
    np.testing.assert_array_equal(tested, np.arange(len(ds)))
    assert run_back.model is not None and run_back.report["classes"] == list(ds.classes)


def test_predict_writes_probabilities_per_animal(run, tmp_path):
    ds, data, out, _ = run
    csv = tmp_path / "pred.csv"
    result = runner.invoke(app, ["predict", str(out / "model.pt"), str(data), "-o", str(csv)])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(csv)
    assert len(table) == len(ds)
    assert list(table["animal"].astype(str)) == list(ds.animals)
    probs = table[["p_AM", "p_JM", "p_AF", "p_JF"]].to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-6)
    assert (table["true"] == table["predicted"]).mean() > 0.5  # trained on these very animals


def test_predict_refuses_data_of_another_grid(run, tmp_path):
    _, _, out, _ = run
    other = save_dataset(planted_dataset(n_cages=2, per_cage=1, n_bins=16), tmp_path / "n16.npz")
    result = runner.invoke(app, ["predict", str(out / "model.pt"), str(other), "-o", "x.csv"])
    assert result.exit_code == 1
    assert "14x14 grid" in result.output and "Traceback" not in result.output


def test_train_reports_bad_input_in_one_line(tmp_path):
    missing = runner.invoke(app, ["train", str(tmp_path / "nope.npz"), "-o", str(tmp_path / "r")])
    assert missing.exit_code == 1 and "no such dataset file" in missing.output
    one_cage = save_dataset(planted_dataset(n_cages=1, per_cage=2), tmp_path / "one.npz")
    result = runner.invoke(app, ["train", str(one_cage), "-o", str(tmp_path / "r"), "--quiet"])
    assert result.exit_code == 1 and "two cages" in result.output
    assert not (tmp_path / "r" / "report.json").exists()
    bad = runner.invoke(app, ["train", str(one_cage), "-o", str(tmp_path / "r"), "--epochs", "0"])
    assert bad.exit_code == 1 and "epochs must be >= 1" in bad.output


def test_predict_converts_a_raw_recording_with_the_models_own_parameters(tmp_path):
    from _planted import recording_model
    from napari_mousestop.histograms import HistogramParams
    from napari_mousestop.learning.checkpoint import save_checkpoint
    from napari_mousestop.learning.config import TrainConfig
    from napari_mousestop.learning.training import train_final
    from napari_mousestop.synthetic.generate import generate_recording

    hist = HistogramParams(interval_s=300, n_intervals=2, n_bins=14)
    model = recording_model(tmp_path / "m.pt", hist)
    db = tmp_path / "rec.sqlite"
    generate_recording(db, hours=0.1, seed=1)
    csv = tmp_path / "pred.csv"
    result = runner.invoke(app, ["predict", str(model), str(db), "-o", str(csv)])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(csv, keep_default_na=False)
    assert len(table) == 4  # the generator's four mice, one row each
    assert table["animal"].nunique() == 4 and set(table["recording"]) == {"rec.sqlite"}
    probs = table[["p_AM", "p_JM", "p_AF", "p_JF"]].to_numpy(dtype=float)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-6)
    # a model that does not say how its stacks were made cannot bin a raw file
    ds = planted_dataset(n_cages=2, per_cage=2, n_intervals=2)
    ds.params = {}
    bare = save_checkpoint(tmp_path / "b.pt", train_final(ds, TrainConfig(epochs=1)))
    result = runner.invoke(app, ["predict", str(bare), str(db), "-o", str(csv)])
    assert result.exit_code == 1 and "histogram parameters" in result.output

"""Every study design of the generator, end to end: generated cohort -> dataset -> train ->
explain, through the API (and the genotype study through the CLI, as a user types it).

Tiny on purpose (3 minutes of recording, one interval, 10 x 10 bins, 2 epochs, 20
permutations): what is checked is what a user sees of the study's classes, not accuracy. The
statistics each design calls for are tested with the design object.
"""

from __future__ import annotations

import json
from itertools import combinations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from typer.testing import CliRunner

from napari_mousestop.cli.app import app
from napari_mousestop.datasets.build import build_dataset
from napari_mousestop.datasets.dataset import load_dataset
from napari_mousestop.explain.run import explain_run
from napari_mousestop.histograms import HistogramParams
from napari_mousestop.io.cohort import CLASSES
from napari_mousestop.learning.config import TrainConfig
from napari_mousestop.learning.report import train_and_report
from napari_mousestop.synthetic.generate import generate_cohort

HOURS = 0.05  # 3 minutes of recording
PARAMS = HistogramParams(interval_s=180, n_intervals=1, n_bins=10)

# design, --classes, cages, the classes the study must have
DESIGNS = [
    ("paper", None, 5, CLASSES),
    ("adults", None, 4, ("AM", "AF")),
    ("three", None, 4, ("AM", "JM", "AF")),
    ("genotype", "genotype", 4, ("KO", "WT")),
    ("genotype-cage", "genotype", 4, ("KO", "WT")),
    ("mixed-sex", None, 3, CLASSES),
    ("unequal", None, 4, CLASSES),
]
# the level each varying factor of the design varies at, as report.json states it
LEVELS = {
    "paper": {"sex": "cage", "age": "recording"},
    "adults": {"sex": "cage"},
    "three": {"sex": "cage", "age": "recording"},
    "genotype": {"genotype": "animal"},
    "genotype-cage": {"genotype": "cage"},
    "mixed-sex": {"sex": "animal", "age": "recording"},
    "unequal": {"sex": "cage", "age": "recording"},
}


def _check_design(report: dict, design: str, classes: tuple[str, ...]) -> None:
    """What the report says of the design: each factor's level, chance 1/k, one primary test,
    and every test with its labellings and smallest p (never a p below it), or left out with
    its reason."""
    varying = {f["name"]: f["level"] for f in report["design"]["factors"]
               if f["level"] in ("cage", "recording", "animal")}  # fmt: skip
    assert varying == LEVELS[design]
    assert report["design"]["experimental_unit"] == "cage"
    assert set(report["design"]["per_class"]) == set(classes)
    assert report["null_reference"]["chance"] == pytest.approx(1 / len(classes))
    tests = {t["test"]: t for t in report["tests"]}
    assert [t["role"] for t in report["tests"]].count("primary") == 1
    for t in report["tests"]:
        assert t["n_labellings"] >= 1 and 0 < t["min_p"] <= 1, t
        if t["reason"]:  # left out: no p, a one-line reason
            assert np.isnan(t["p"]) and "\n" not in t["reason"], t
        else:
            assert t["min_p"] - 1e-12 <= t["p"] <= 1 and t["p_holm"] >= t["p"] - 1e-12, t
    # factor lines only for factors that vary, and only where more than one does
    factor_tests = {n.split(":")[0] for n in tests if n.endswith("factor test")}
    assert factor_tests == (set(LEVELS[design]) if len(LEVELS[design]) > 1 else set())
    if design == "three":  # no JF: sex cannot be relabelled without making JF animals
        assert "classes the data lack" in tests["sex: factor test"]["reason"]
        assert "sex not relabelled" in report["permutation"]["scheme"]


def _check_outputs(ds, run_dir, maps_dir, classes, covariates):
    """What a user sees: the study's classes everywhere, a panel per class, kept columns."""
    assert ds.classes == classes
    assert set(ds.class_names) == set(classes)  # never a class without animals
    assert set(covariates) <= set(ds.covariates)
    report = json.loads((run_dir / "report.json").read_text())
    assert tuple(report["classes"]) == classes
    maps = xr.open_dataset(maps_dir / "maps.nc")
    assert tuple(maps["class"].values) == classes
    panels = maps["contribution"]  # one panel per class, none empty
    assert panels.sizes["class"] == len(classes)
    assert np.isfinite(panels.values).all() and (np.abs(panels.values).sum(axis=(1, 2)) > 0).all()
    maps.close()


@pytest.mark.parametrize(
    ("design", "columns", "cages", "classes"), DESIGNS, ids=[d[0] for d in DESIGNS]
)
def test_design_end_to_end_api(tmp_path, design, columns, cages, classes):
    files = generate_cohort(tmp_path / "data", cages=cages, hours=HOURS, design=design, seed=1)
    ds = build_dataset(
        files.cohort_csv, tmp_path / "ds.npz", PARAMS, n_workers=0, classes=columns, warn=False
    )
    assert ds.params["labels"]["columns"] == list(columns.split(",") if columns else ("sex", "age"))
    factor = "genotype" if columns else "sex"
    assert set(ds.factors) == ({"genotype"} if columns else {"sex", "age"})
    assert set(ds.factors[factor]) == ({"KO", "WT"} if columns else {"M", "F"})
    train_and_report(
        ds, tmp_path / "run", TrainConfig(epochs=2, seed=0), n_permutations=20, workers=0
    )
    explain_run(
        tmp_path / "run", tmp_path / "maps", ds, which=("contribution",), primary="contribution",
        n_permutations=20,
        figures=False,
    )  # fmt: skip
    kept = ("sex", "age", "strain") if columns else ("genotype", "strain")
    _check_outputs(load_dataset(tmp_path / "ds.npz"), tmp_path / "run", tmp_path / "maps",
                   classes, kept)  # fmt: skip
    _check_design(json.loads((tmp_path / "run" / "report.json").read_text()), design, classes)
    if design == "unequal":  # the missing animal and recording are simply absent
        assert len(ds) == 4 + 3 + 3 + 3 + 5 + 5 + 4
        assert not ds.params["failed"]


@pytest.fixture(scope="module")
def genotype_study(tmp_path_factory):
    """A genotype study (2 WT + 2 KO per cage, KO planted at the water) through the CLI."""
    root = tmp_path_factory.mktemp("genotype")
    runner = CliRunner()

    def run(*args):
        result = runner.invoke(app, [str(a) for a in args])
        assert result.exit_code == 0, result.output
        return result.output

    run("synth", root / "data", "--cages", 4, "--hours", HOURS, "--workers", 0,
        "--design", "genotype", "--plant", "genotype:KO=water")  # fmt: skip
    out = {
        "dataset": run("dataset", root / "data" / "cohort.csv", "-o", root / "ds.npz",
                       "--classes", "genotype", "--interval", "3min", "--intervals", 1,
                       "--bins", 10, "--workers", 0),
        "train": run("train", root / "ds.npz", "-o", root / "run", "--epochs", 2,
                     "--permutations", 20, "--workers", 0, "-q"),
        "explain": run("explain", root / "run", "-o", root / "maps", "--permutations", 20,
                       "-q"),
        "predict": run("predict", root / "run" / "model.pt",
                       root / "data" / "cage01_adult.sqlite", "-o", root / "pred.csv"),
    }  # fmt: skip
    return root, out


def test_genotype_study_through_the_cli(genotype_study):
    root, out = genotype_study
    assert "(KO 8, WT 8)" in out["dataset"]
    assert "classes from genotype: KO, WT; covariates kept: sex, age, strain" in out["dataset"]
    ds = load_dataset(root / "ds.npz")
    assert list(ds.factors) == ["genotype"]
    for cage in np.unique(ds.cages):  # genotype within cage, sex between cages
        assert sorted(ds.class_names[ds.cages == cage]) == ["KO", "KO", "WT", "WT"]
        assert len(set(ds.covariates["sex"][ds.cages == cage])) == 1
    assert set(ds.covariates["sex"]) == {"M", "F"}
    _check_outputs(ds, root / "run", root / "maps", ("KO", "WT"), ("sex", "age", "strain"))
    report = json.loads((root / "run" / "report.json").read_text())
    _check_design(report, "genotype", ("KO", "WT"))
    assert "genotype within a recording, across animals" in out["train"]
    # what explain says it did: the genotype study's own comparison and units, no paper
    # classes, one panel per class
    index = (root / "maps" / "index.md").read_text()
    assert "`KO - WT`: unit animal within cage" in index
    assert "evidence for KO minus its evidence for WT" in index
    assert not {"AM", "AF", "JM", "JF"} & set(index.replace(",", " ").split())
    assert "cage units" not in index
    assert "(columns KO WT)" in index


def test_predict_names_the_study_classes(genotype_study):
    """predict on a raw recording: the run's classes, and the true genotype from its ANIMAL
    table (GENOTYPE), as the model's class column."""
    root, out = genotype_study
    table = pd.read_csv(root / "pred.csv", dtype={"animal": str})
    assert [c for c in table.columns if c.startswith("p_")] == ["p_KO", "p_WT"]
    assert set(table["predicted"]) <= {"KO", "WT"}
    cohort = pd.read_csv(root / "data" / "cohort.csv", dtype=str)
    genotype = dict(zip(cohort["animal"], cohort["genotype"], strict=True))
    assert list(table["true"]) == [genotype[a] for a in table["animal"]]
    assert "with known classes" in out["predict"]


def test_genotype_study_has_its_pair_difference(genotype_study):
    root, _ = genotype_study
    maps = xr.open_dataset(root / "maps" / "maps.nc")
    names = set(maps["contrast"].values) if "contrast" in maps.coords else set()
    maps.close()
    for a, b in combinations(("KO", "WT"), 2):
        assert {f"{a} - {b}", f"{b} - {a}"} & names


def test_classes_from_the_animal_table(tmp_path):
    """A cohort CSV without genotype, sex or age columns: GENOTYPE, SEX and AGE come from
    each database's ANIMAL table."""
    files = generate_cohort(tmp_path / "data", cages=2, hours=0.02, design="genotype", seed=2)
    cohort = pd.read_csv(files.cohort_csv, dtype=str)
    bare = tmp_path / "data" / "bare.csv"
    cohort[["database", "animal", "cage"]].to_csv(bare, index=False)
    ds = build_dataset(bare, tmp_path / "ds.npz", PARAMS, n_workers=0, classes="genotype",
                       warn=False)  # fmt: skip
    assert ds.classes == ("KO", "WT")
    assert list(ds.class_names) == list(cohort["genotype"])
    assert list(ds.covariates["sex"]) == list(cohort["sex"])  # "male" in ANIMAL -> M
    assert set(ds.covariates["age"]) == {"A"}

"""A cohort mixing LMT databases and DeepLabCut files: one dataset, trained end to end, with every
reading parameter recorded; cohort rows naming other trackers' files checked line by line."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from napari_mousestop.cli.app import app
from napari_mousestop.datasets.build import build_dataset
from napari_mousestop.datasets.dataset import load_dataset
from napari_mousestop.errors import CohortError
from napari_mousestop.histograms import HistogramParams
from napari_mousestop.io.cohort import TRACKER_COLUMNS, cohort_trackers, read_cohort
from napari_mousestop.synthetic.poses import generate_pose_cohort

runner = CliRunner()
HIST = ["--interval", "5min", "--intervals", "3", "--bins", "10", "--workers", "0"]


@pytest.fixture(scope="module")
def mixed(tmp_path_factory, small_cohort):
    """4 LMT cages (small_cohort) + 2 DeepLabCut cages, in one cohort CSV."""
    folder = tmp_path_factory.mktemp("mixed")
    dlc = generate_pose_cohort(folder / "dlc", cages=(5, 6), hours=0.25, seed=4)
    dlc["database"] = "dlc/" + dlc["database"]
    dlc["calibration"] = "dlc/" + dlc["calibration"]
    lmt = pd.read_csv(small_cohort.cohort_csv, dtype=str)
    lmt["database"] = [str(small_cohort.cohort_csv.parent / d) for d in lmt["database"]]
    cohort = pd.concat([lmt, dlc], ignore_index=True).astype(str).replace("nan", "")
    csv = folder / "cohort.csv"
    cohort.to_csv(csv, index=False)
    return folder, csv


@pytest.mark.slow
def test_a_mixed_cohort_builds_a_dataset_and_trains_end_to_end(mixed):
    folder, csv = mixed
    out = folder / "ds.npz"
    res = runner.invoke(app, ["dataset", str(csv), "-o", str(out), *HIST])
    assert res.exit_code == 0, res.output
    ds = load_dataset(out)
    assert ds.X.shape == (32 + 16, 3, 10, 10)
    dlc = np.char.endswith(ds.recordings.astype(str), ".h5")
    assert dlc.sum() == 16 and set(ds.cages[dlc]) == {"cage05", "cage06"}
    assert ds.X[dlc].sum() > 0 and ds.X[~dlc].sum() > 0
    assert set(ds.class_names[dlc]) == {"AM", "JM", "AF", "JF"}
    reader = ds.params["recordings"]["dlc/cage05_adult.h5"]["reader"]
    assert reader["source_software"] == "DeepLabCut" and reader["fps"] == 30.0
    assert reader["calibration"]["corners_px"][0] == [102.0, 40.0]
    assert reader["start_time"] == "2024-01-15T18:00:00+00:00"
    assert ds.params["tracker"]["confidence_threshold"] == 0.6
    assert "dlc/cage05_adult.h5" in {s["database"] for s in ds.sources}
    run = folder / "run"
    res = runner.invoke(
        app, ["train", str(out), "-o", str(run), "--epochs", "3", "--permutations", "20", "-q"]
    )
    assert res.exit_code == 0, res.output
    report = json.loads((run / "report.json").read_text())
    held_out = {p["cage"] for p in report["predictions"]}
    assert {"cage05", "cage06"} <= held_out  # the DLC cages were held out like the others
    assert (run / "model.pt").is_file()


def test_rows_name_files_and_individuals(mixed):
    _, csv = mixed
    cohort = read_cohort(csv)
    assert set(TRACKER_COLUMNS) <= set(cohort.columns)
    h5 = cohort[cohort["source_software"] != ""]
    assert (h5["individual"] == h5["animal"]).all()
    assert h5["calibration"].str.endswith("dlc/calibration.toml").all()
    trackers = cohort_trackers(cohort)
    lmt = cohort[cohort["source_software"] == ""]["database"].iloc[0]
    assert trackers[lmt] is None
    tr = trackers[h5["database"].iloc[0]]
    assert tr.source_software == "DeepLabCut" and tr.fps == 30.0
    assert tr.start_time == "2024-01-15 18:00"


def _csv(tmp_path, text: str):
    path = tmp_path / "cohort.csv"
    path.write_text(text)
    return path


HEADER = "database,animal,cage,sex,age,source_software,individual,fps,calibration,start_time\n"


def test_bad_tracker_rows_are_listed_line_by_line(tmp_path):
    csv = _csv(
        tmp_path,
        HEADER
        + "a.h5,m1,c1,M,adult,EthoVision,,30,cal.toml,\n"
        + "b.h5,m1,c1,M,adult,dlc,,fast,cal.toml,\n"
        + "c.sqlite,m1,c1,M,adult,,,30,,\n"
        + "d.h5,m1,c2,M,adult,SLEAP,,30,cal.toml,\n"
        + "d.h5,m2,c2,M,adult,SLEAP,,25,cal.toml,\n"
        + "e.h5,m1,c3,M,adult,SLEAP,x,30,cal.toml,not a time\n"
        + "f.h5,m1,c3,M,adult,SLEAP,x,30,cal.toml,\n"
        + "f.h5,m2,c3,M,adult,SLEAP,x,30,cal.toml,\n",
    )
    with pytest.raises(CohortError) as err:
        read_cohort(csv)
    msg = str(err.value)
    assert msg.startswith(str(csv))
    assert "line 2: unknown source software 'EthoVision'" in msg
    assert "line 3: TrackerParams.fps must be a finite number, not 'fast'" in msg
    assert "line 4: fps given but no source_software" in msg
    assert "lines 5, 6: d.h5 is listed with different" in msg
    assert "line 7: start time 'not a time' is not a clock time" in msg
    assert "line 8: individual x listed twice for f.h5" in msg


def test_a_tracker_row_without_calibration_is_refused_before_any_work(tmp_path, mixed):
    folder, _ = mixed
    h5 = folder / "dlc" / "cage05_adult.h5"
    csv = _csv(tmp_path, HEADER + f"{h5},c5A,c5,M,adult,DeepLabCut,,30,,\n")
    with pytest.raises(CohortError, match=r"line 2: .*cage05_adult.h5 \(DeepLabCut\) has no cali"):
        build_dataset(csv, tmp_path / "ds.npz", n_workers=0)


def test_unknown_individual_and_unreadable_file_are_skipped_and_named(tmp_path, mixed):
    folder, _ = mixed
    good = folder / "dlc" / "cage05_adult.h5"
    broken = tmp_path / "broken.h5"
    broken.write_bytes(b"no pose here")
    cal = folder / "dlc" / "calibration.toml"
    csv = _csv(
        tmp_path,
        HEADER
        + f"{good},c5A,c5,M,adult,DeepLabCut,,30,{cal},\n"
        + f"{good},ghost,c5,M,adult,DeepLabCut,,30,{cal},\n"
        + f"{broken},b1,c6,F,adult,DeepLabCut,,30,{cal},\n",
    )
    ds = build_dataset(csv, tmp_path / "ds.npz", HistogramParams(n_intervals=1), n_workers=0)
    assert list(ds.animals) == ["c5A"]
    errors = {f.get("animal"): f["error"] for f in ds.params["failed"]}
    assert "individual 'ghost' not in this DeepLabCut file" in errors["ghost"]
    assert "c5A" in errors["ghost"]  # the individuals the file has
    assert errors[None].startswith("TrackerError: " + str(broken))
    assert "movement cannot read it" in errors[None]


def test_an_edited_calibration_recomputes_the_recording(tmp_path, mixed):
    folder, _ = mixed
    h5 = folder / "dlc" / "cage06_adult.h5"
    cal = tmp_path / "cal.toml"
    cal.write_text((folder / "dlc" / "calibration.toml").read_text())
    csv = _csv(tmp_path, HEADER + f"{h5},c6A,c6,F,adult,DeepLabCut,,30,{cal},\n")
    params = HistogramParams(n_intervals=1, n_bins=10)
    stats: dict = {}
    first = build_dataset(csv, tmp_path / "ds.npz", params, n_workers=0, stats=stats)
    build_dataset(csv, tmp_path / "ds.npz", params, n_workers=0, stats=stats)
    assert stats["cached"] == [str(h5)]
    # the floor's corners moved: the same file now lands elsewhere on the floor
    cal.write_text("[video]\ncorners_px = [[0, 0], [512, 0], [512, 424], [0, 424]]\n")
    again = build_dataset(csv, tmp_path / "ds.npz", params, n_workers=0, stats=stats)
    assert stats["computed"] == [str(h5)]
    assert not np.array_equal(first.X, again.X)

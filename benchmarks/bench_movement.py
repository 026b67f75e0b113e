"""Benchmark: other trackers' files read through movement (speed, memory, correctness, noise).

Measured in one run:

* read speed of a generated 24 h DeepLabCut file (4 mice, 3 keypoints, 30 fps, written by
  ``movement.io.save_poses.to_dlc_file``), in frames per second, each timing in a fresh
  process (``--repeat`` times, the median reported): movement's loader alone
  (``movement.io.load_dataset``), the whole reading (``read_tracks``: load, confidence filter,
  bridged gaps, centres, calibration) and reading + stops (``extract_stops``); with the peak
  memory (``VmHWM``) of the last;
* with ``--lmt``, ``extract_stops`` on an LMT recording of the same length and number of mice
  (generated once), timed the same way, for a ratio measured under the same load;
* recall and precision against the planted stops of 1-hour DeepLabCut and SLEAP files, over
  several seeds;
* the effect of the confidence threshold and of the speed window on noisy pose data (one 1-hour
  file, recall and precision for each pair).

Usage (the full run; generated files are kept in --data and reused)::

    .venv/bin/python benchmarks/bench_movement.py --hours 24 --repeat 3 --seeds 3 --lmt

A quick check: ``--hours 1 --repeat 1 --seeds 1``. Results go to stdout and --json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from napari_mousestop.io.layout import save_calibration
from napari_mousestop.io.trackers import TrackerParams
from napari_mousestop.stops import StopParams, extract_stops
from napari_mousestop.synthetic.generate import generate_recording, score_stops
from napari_mousestop.synthetic.poses import VIDEO_CORNERS, generate_pose_recording

MICE = ("mouse_a", "mouse_b", "mouse_c", "mouse_d")

_TIMED = """
import json, resource, sys, time
which, path, params = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])

def run():
    if which == "movement":
        import movement.io
        ds = movement.io.load_dataset(path, source_software="DeepLabCut", fps=30.0)
        return ds.sizes["time"]
    from napari_mousestop.stops import extract_stops
    if which == "lmt":
        return len(extract_stops(path))
    from napari_mousestop.io.trackers import TrackerParams, read_tracks
    tracker = TrackerParams.from_dict(params)
    if which == "read_tracks":
        return read_tracks(path, tracker).n_frames
    return len(extract_stops(path, tracker=tracker))

def peak_gb():
    # VmHWM: this process's own peak (ru_maxrss would keep the forking parent's across exec)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024 / 1e9
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6

t = time.perf_counter()
n = run()
first = time.perf_counter() - t
peak = peak_gb()
t = time.perf_counter()
run()
print(json.dumps({"seconds": first, "again": time.perf_counter() - t, "n": n,
                  "peak_rss_gb": peak}))
"""


def timed_process(which: str, path: Path, tracker: TrackerParams) -> dict:
    """Timings in a fresh process: the first call (what one command pays: one-time set-ups
    such as numba's compilation of the interpolation included, imports excluded), its peak
    memory, and a second call in the same process."""
    code = _TIMED
    if which in ("read_tracks", "extract_stops"):  # import before the clock starts
        code = "import movement.io, napari_mousestop.stops, napari_mousestop.io.trackers\n" + code
    elif which == "movement":
        code = "import movement.io\n" + code
    else:
        code = "import napari_mousestop.stops\n" + code
    out = subprocess.run(
        [sys.executable, "-c", code, which, str(path), json.dumps(tracker.to_dict())],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return json.loads(out.strip().splitlines()[-1])


def speed(folder: Path, hours: float, repeat: int, tracker: TrackerParams, lmt: bool) -> dict:
    path = folder / f"bench_dlc_{hours:g}h.h5"
    if not path.exists():
        t = time.perf_counter()
        generate_pose_recording(path, "DeepLabCut", hours=hours, individuals=MICE, seed=1)
        print(f"generated {path.name} in {time.perf_counter() - t:.0f} s", flush=True)
    frames = int(round(hours * 3600 * 30))
    extract_stops(path, tracker=tracker)  # compile the numba loops, warm the OS cache
    res: dict = {"hours": hours, "frames": frames, "mice": len(MICE), "keypoints": 3,
                 "file_gb": path.stat().st_size / 1e9}  # fmt: skip
    res.update(seconds={}, frames_per_s={})
    for which in ("movement", "read_tracks", "extract_stops"):
        runs = [timed_process(which, path, tracker) for _ in range(repeat)]
        sec = float(np.median([r["seconds"] for r in runs]))
        res["seconds"][which] = [round(r["seconds"], 2) for r in runs]
        res["frames_per_s"][which] = frames / sec
        res["frames_per_s"][which + " (second call)"] = frames / float(
            np.median([r["again"] for r in runs])
        )
        if which == "extract_stops":
            res["peak_rss_gb"] = max(r["peak_rss_gb"] for r in runs)
            res["stops"] = runs[-1]["n"]
    if lmt:
        db = folder / f"bench_lmt_{hours:g}h.sqlite"
        if not db.exists():
            t = time.perf_counter()
            generate_recording(db, hours=hours, seed=1)
            print(f"generated {db.name} in {time.perf_counter() - t:.0f} s", flush=True)
        runs = [timed_process("lmt", db, tracker) for _ in range(repeat)]
        sec = float(np.median([r["seconds"] for r in runs]))
        res["seconds"]["lmt_extract_stops"] = [round(r["seconds"], 2) for r in runs]
        res["frames_per_s"]["lmt_extract_stops"] = frames / sec
        res["frames_per_s"]["lmt_extract_stops (second call)"] = frames / float(
            np.median([r["again"] for r in runs])
        )
        res["lmt_peak_rss_gb"] = max(r["peak_rss_gb"] for r in runs)
        res["movement_over_lmt_time"] = (
            res["frames_per_s"]["lmt_extract_stops"] / res["frames_per_s"]["extract_stops"]
        )
    return res


def correctness(folder: Path, seeds: int, tracker: TrackerParams) -> dict:
    out = {}
    for software in ("DeepLabCut", "SLEAP"):
        scores = []
        for s in range(seeds):
            path = folder / f"correct_{software}_seed{100 + s}.h5"
            truth = generate_pose_recording(path, software, hours=1.0, individuals=MICE,
                                            seed=100 + s)  # fmt: skip
            stops = extract_stops(path, tracker=replace(tracker, source_software=software))
            scores.append(score_stops(stops, truth))
            path.unlink()
        out[software] = {
            "seeds": seeds,
            "planted": sum(s["n_planted"] for s in scores),
            "recall_min": min(s["recall"] for s in scores),
            "precision_min": min(s["precision"] for s in scores),
            "position_error_cm_median": float(
                np.median([s["position_error_cm"] for s in scores])
            ),  # fmt: skip
        }
    return out


def noise(folder: Path, tracker: TrackerParams) -> dict:
    """Recall and precision for each confidence threshold x speed window, on one 1-hour file."""
    path = folder / "noise_seed7.h5"
    truth = generate_pose_recording(path, "DeepLabCut", hours=1.0, individuals=MICE, seed=7)
    table = []
    for threshold in (0.0, 0.3, 0.6, 0.9):
        for window in (1 / 15, 0.25, 0.5, 1.0):
            noisy = replace(tracker, confidence_threshold=threshold)
            stops = extract_stops(path, StopParams(speed_window_s=window), tracker=noisy)
            sc = score_stops(stops, truth)
            table.append({"confidence_threshold": threshold, "speed_window_s": round(window, 3),
                          "recall": round(sc["recall"], 3), "precision": round(sc["precision"], 3),
                          "detected": sc["n_detected"], "planted": sc["n_planted"]})  # fmt: skip
    path.unlink()
    return {"table": table}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=24.0, help="DeepLabCut file for the speed")
    ap.add_argument("--repeat", type=int, default=3, help="fresh-process timings of each step")
    ap.add_argument(
        "--seeds",
        type=int,
        default=3,
        help="1-hour files scored per tracker (0: no scores, no noise table)",
    )
    ap.add_argument("--lmt", action="store_true", help="also time an LMT file of that length")
    ap.add_argument("--data", type=Path, default=Path("/tmp/mousestop-bench"))
    ap.add_argument("--json", type=Path, default=None, help="write the results here too")
    args = ap.parse_args()
    args.data.mkdir(parents=True, exist_ok=True)
    calibration = save_calibration(args.data / "calibration.toml", VIDEO_CORNERS)
    tracker = TrackerParams("DeepLabCut", fps=30.0, calibration=str(calibration))
    import movement

    res = {"machine": f"{platform.machine()}, {os.cpu_count()} cores",
           "python": platform.python_version(), "movement": movement.__version__}  # fmt: skip
    res["speed"] = speed(args.data, args.hours, args.repeat, tracker, args.lmt)
    print(json.dumps(res["speed"], indent=1), flush=True)
    if args.seeds:  # 0: the speed only
        res["correctness"] = correctness(args.data, args.seeds, tracker)
        print(json.dumps(res["correctness"], indent=1), flush=True)
        res["noise"] = noise(args.data, tracker)
        for row in res["noise"]["table"]:
            print(row, flush=True)
    if args.json:
        args.json.write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()

"""Benchmark: reading LMT files and extracting stops (speed, memory, correctness).

Measured in one run, on the same warm file:

* the SQLite engine's own scan rate, ``SELECT sum(MASS_X) FROM DETECTION`` (through the covering
  index ``detectionFastLoadXYIndex``), the reference;
* Python's sqlite3 ``fetchall`` and ADBC (Arrow) reading the same columns;
* napari-mousestop: read + stop extraction (``extract_stops``) with the page reader (default,
  with all its checks) and the SQL fallback; rows/s and the ratio to the engine's rate (target
  >= 0.5). The engine scan and the page reader alternate, ``--repeat`` times; the ratio is the
  median of the per-repeat ratios (the machine may be shared: both sides see the same load),
  of wall-clock times and, less sensitive to other jobs, of CPU times;
* peak memory (``ru_maxrss``) of ``extract_stops`` on a long recording, in a fresh subprocess
  (target < 1.5 GB for 72 h, 4 mice, ~31 M rows);
* recall and precision against the planted stops of generated recordings, over several seeds.

Usage (the full run; generated files are kept in --data and reused)::

    .venv/bin/python benchmarks/bench_stops.py --hours 24 --memory-hours 72 --seeds 5

A quick check: ``--hours 1 --memory-hours 2 --seeds 2``. Results go to stdout and --json.
"""

from __future__ import annotations

import argparse
import json
import platform
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from napari_mousestop.stops import StopParams, extract_stops
from napari_mousestop.synthetic.generate import generate_recording, score_stops


def recording(folder: Path, hours: float, seed: int) -> Path:
    """A generated 4-mouse recording, made once and reused."""
    path = folder / f"bench_{hours:g}h_seed{seed}.sqlite"
    if not path.exists():
        t = time.perf_counter()
        generate_recording(path, hours=hours, seed=seed)
        print(f"generated {path.name} in {time.perf_counter() - t:.0f} s", flush=True)
    return path


def timed(fn) -> float:
    """Wall time of one call."""
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def timed2(fn) -> tuple[float, float]:
    """(wall, CPU) time of one call; CPU time is less sensitive to other jobs on the machine."""
    t, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t, time.process_time() - c


def speed(path: Path, repeat: int) -> dict:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    (n_rows,) = con.execute("SELECT count(*) FROM DETECTION").fetchone()
    plan = con.execute("EXPLAIN QUERY PLAN SELECT sum(MASS_X) FROM DETECTION").fetchall()
    assert "detectionFastLoadXYIndex" in str(plan), plan
    res = {"rows": n_rows, "file_gb": path.stat().st_size / 1e9}

    def engine():
        con.execute("SELECT sum(MASS_X) FROM DETECTION").fetchone()

    def fetchall():
        con.execute("SELECT ANIMALID, FRAMENUMBER, MASS_X, MASS_Y FROM DETECTION "
                    "WHERE ANIMALID = 1").fetchall()  # fmt: skip

    def adbc():
        import adbc_driver_sqlite.dbapi as ad

        with ad.connect(f"file:{path}?mode=ro") as c, c.cursor() as cur:
            cur.execute("SELECT ANIMALID, FRAMENUMBER, MASS_X, MASS_Y FROM DETECTION")
            cur.fetch_arrow_table()

    df = extract_stops(path)  # compile (numba cache) and warm the OS cache
    assert df.attrs["report"]["reader"]["source"] == "pages", df.attrs["report"]["reader"]
    runs = [(timed2(engine), timed2(lambda: extract_stops(path))) for _ in range(repeat)]
    pairs = [(e[0], x[0]) for e, x in runs]
    ratios = [e / x for e, x in pairs]
    cpu_ratios = [e[1] / x[1] for e, x in runs]
    t = {
        "engine_scan": float(np.median([e for e, _ in pairs])),
        "extract_pages": float(np.median([x for _, x in pairs])),
        "extract_sql": timed(lambda: extract_stops(path, StopParams(method="sql"))),
        "adbc_read_only": timed(adbc),
    }
    (n1,) = con.execute("SELECT count(*) FROM DETECTION WHERE ANIMALID = 1").fetchone()
    t_fetch = timed(fetchall)
    con.close()
    engine_s = t["engine_scan"]
    res["seconds"] = {k: round(v, 3) for k, v in t.items()}
    res["pairs_seconds"] = [[round(e, 3), round(x, 3)] for e, x in pairs]
    res["rows_per_s"] = {
        "engine_scan": n_rows / engine_s,
        "sqlite3_fetchall (animal 1)": n1 / t_fetch,
        "adbc_read_only": n_rows / t["adbc_read_only"],
        "extract_stops pages": n_rows / t["extract_pages"],
        "extract_stops sql": n_rows / t["extract_sql"],
    }
    res["ratio_to_engine"] = {
        "pages_median": float(np.median(ratios)),
        "pages_min": min(ratios),
        "pages_max": max(ratios),
        "pages_cpu_median": float(np.median(cpu_ratios)),
        "sql": engine_s / t["extract_sql"],
    }
    return res


_MEMORY = """
import resource, sys, time
from napari_mousestop.stops import extract_stops
t = time.perf_counter()
df = extract_stops(sys.argv[1])
dt = time.perf_counter() - t
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, len(df), dt)
"""


def memory(path: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", _MEMORY, str(path)], capture_output=True,
                         text=True, check=True).stdout.split()  # fmt: skip
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    (n_rows,) = con.execute("SELECT count(*) FROM DETECTION").fetchone()
    con.close()
    return {"rows": n_rows, "peak_rss_gb": int(out[0]) / 1e6, "stops": int(out[1]),
            "seconds_cold_process": float(out[2])}  # fmt: skip


def correctness(folder: Path, seeds: int, hours: float = 1.0) -> dict:
    scores = []
    for s in range(seeds):
        path = folder / f"correct_{hours:g}h_seed{100 + s}.sqlite"
        truth = generate_recording(path, hours=hours, seed=100 + s)
        scores.append(score_stops(extract_stops(path), truth))
        path.unlink()
    rec = [s["recall"] for s in scores]
    prec = [s["precision"] for s in scores]
    return {"hours_each": hours, "seeds": seeds, "recall_min": min(rec), "recall_mean":
            float(np.mean(rec)), "precision_min": min(prec), "precision_mean":
            float(np.mean(prec)), "planted": sum(s["n_planted"] for s in scores),
            "position_error_cm_median": float(np.median([s["position_error_cm"]
                                                         for s in scores]))}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=24.0, help="recording for the speed ratio")
    ap.add_argument("--memory-hours", type=float, default=72.0, help="recording for peak memory")
    ap.add_argument("--seeds", type=int, default=5, help="1-hour recordings scored")
    ap.add_argument("--repeat", type=int, default=5, help="engine / page reader pairs timed")
    ap.add_argument("--data", type=Path, default=Path("/tmp/mousestop-bench"))
    ap.add_argument("--json", type=Path, default=None, help="write the results here too")
    args = ap.parse_args()
    args.data.mkdir(parents=True, exist_ok=True)
    res = {"machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores",
           "python": platform.python_version(), "sqlite": sqlite3.sqlite_version}  # fmt: skip
    res["correctness"] = correctness(args.data, args.seeds)
    print(json.dumps(res["correctness"], indent=1), flush=True)
    res["speed"] = speed(recording(args.data, args.hours, 1), args.repeat)
    res["speed"]["hours"] = args.hours
    print(json.dumps(res["speed"], indent=1), flush=True)
    if args.memory_hours:
        res["memory"] = memory(recording(args.data, args.memory_hours, 2))
        res["memory"]["hours"] = args.memory_hours
        print(json.dumps(res["memory"], indent=1), flush=True)
    if args.json:
        args.json.write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()

"""Benchmark: seconds per recorded hour of the synthetic LMT generator, and a whole cohort.

1. ``generate_recording`` of ``--hours`` hours (4 mice, 30 frames/s), ``--repeats`` times:
   wall and CPU seconds per recorded hour (median), detection rows per second;
   ``--floor``: SQLite's own share, i.e. the CPU time of inserting the same rows (read back
   from the file, so no Python builds them) into a new file with the same schema, 64 rows per
   INSERT in one transaction without journal, and of creating the same indexes;
2. optionally (``--cohort-cages``), ``generate_cohort`` of that many cages (2 recordings each)
   of ``--cohort-hours``, with ``--workers`` processes (0: in this process).

The script only uses the public API, so the same file measures any checkout: run it with
``PYTHONPATH=<checkout>/src`` to compare two versions under the same machine load.

Usage::

    python benchmarks/bench_generator.py --hours 1 --repeats 5
    python benchmarks/bench_generator.py --hours 1 --repeats 5 --cohort-cages 12 \\
        --cohort-hours 0.5 --workers 2 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from napari_mousestop.synthetic.generate import generate_cohort, generate_recording


def time_recording(hours: float, repeats: int, folder: Path) -> dict:
    """Median wall and CPU seconds per recorded hour over ``repeats`` recordings."""
    walls, cpus = [], []
    for r in range(repeats):
        path = folder / f"rec{r}.sqlite"
        t0, c0 = time.perf_counter(), time.process_time()
        generate_recording(path, hours=hours, seed=r)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        rows = con.execute("SELECT count(*) FROM DETECTION").fetchone()[0]
        con.close()
        path.unlink()
        print(f"  recording {r}: {walls[-1]:.2f} s wall, {cpus[-1]:.2f} s CPU, {rows} rows")
    wall, cpu = float(np.median(walls)), float(np.median(cpus))
    return {
        "hours": hours,
        "repeats": repeats,
        "wall_s": walls,
        "cpu_s": cpus,
        "wall_s_per_hour": wall / hours,
        "cpu_s_per_hour": cpu / hours,
        "detection_rows": rows,
        "rows_per_wall_s": rows / wall,
    }


def sqlite_floor(hours: float, folder: Path) -> dict:
    """CPU seconds per recorded hour that SQLite alone needs for a recording's rows."""
    from napari_mousestop.synthetic.database import INDEXES, schema

    src = folder / "floor_src.sqlite"
    generate_recording(src, hours=hours, seed=0)
    con = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    tables = {}
    for table in ("DETECTION", "FRAME"):
        cols = [r[1] for r in con.execute(f"PRAGMA table_info({table})")]
        cols = [c for c in cols if c != "ID"]
        rows = con.execute(f"SELECT {', '.join(cols)} FROM {table} ORDER BY rowid").fetchall()
        tables[table] = (cols, rows)
    con.close()
    dst = folder / "floor_dst.sqlite"
    con = sqlite3.connect(dst, isolation_level=None)
    for pragma in ("journal_mode=OFF", "synchronous=OFF", "cache_size=-262144", "temp_store=2"):
        con.execute(f"PRAGMA {pragma}")
    schema(con)
    con.execute("BEGIN")
    c0 = time.process_time()
    for table, (cols, rows) in tables.items():
        per = 64
        one = "(" + ", ".join("?" * len(cols)) + ")"
        sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES " + ", ".join([one] * per)
        whole = len(rows) - len(rows) % per
        flat = [v for r in rows[:whole] for v in r]
        step = per * len(cols)
        con.executemany(sql, (flat[i : i + step] for i in range(0, len(flat), step)))
        con.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES {one}", rows[whole:])
    con.execute("COMMIT")
    inserts = time.process_time() - c0
    c0 = time.process_time()
    con.executescript(INDEXES)
    indexes = time.process_time() - c0
    con.close()
    src.unlink()
    dst.unlink()
    return {
        "insert_cpu_s_per_hour": inserts / hours,
        "index_cpu_s_per_hour": indexes / hours,
        "sqlite_cpu_s_per_hour": (inserts + indexes) / hours,
    }


def time_cohort(cages: int, hours: float, workers: int | None, folder: Path) -> dict:
    """Wall seconds of a whole cohort (cluster start-up included)."""
    kwargs = {} if workers is None else {"workers": workers}
    t0 = time.perf_counter()
    generate_cohort(folder / "cohort", cages=cages, hours=hours, seed=0, **kwargs)
    wall = time.perf_counter() - t0
    recorded = 2 * cages * hours
    return {
        "cages": cages,
        "hours": hours,
        "workers": workers,
        "wall_s": wall,
        "recorded_hours": recorded,
        "wall_s_per_recorded_hour": wall / recorded,
    }


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--hours", type=float, default=1.0)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--floor", action="store_true", help="also time SQLite alone (see above)")
    p.add_argument("--cohort-cages", type=int, default=0, help="also time a cohort (0: no)")
    p.add_argument("--cohort-hours", type=float, default=0.5)
    p.add_argument("--workers", type=int, default=None, help="cohort: worker processes")
    p.add_argument("--json", help="write the figures to this file")
    a = p.parse_args(argv)
    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        out = {"recording": time_recording(a.hours, a.repeats, Path(tmp))}
        rec = out["recording"]
        print(
            f"per recorded hour: {rec['wall_s_per_hour']:.2f} s wall, "
            f"{rec['cpu_s_per_hour']:.2f} s CPU (median of {a.repeats}); "
            f"{rec['rows_per_wall_s']:,.0f} detection rows/s"
        )
        if a.floor:
            out["sqlite_floor"] = f = sqlite_floor(a.hours, Path(tmp))
            print(
                f"SQLite alone: {f['sqlite_cpu_s_per_hour']:.2f} s CPU per recorded hour "
                f"(inserts {f['insert_cpu_s_per_hour']:.2f}, indexes "
                f"{f['index_cpu_s_per_hour']:.2f}): "
                f"{f['sqlite_cpu_s_per_hour'] / rec['cpu_s_per_hour']:.0%} of the generator's CPU"
            )
        if a.cohort_cages:
            out["cohort"] = time_cohort(a.cohort_cages, a.cohort_hours, a.workers, Path(tmp))
            c = out["cohort"]
            print(
                f"cohort of {a.cohort_cages} cages x 2 x {a.cohort_hours:g} h, workers "
                f"{a.workers}: {c['wall_s']:.1f} s ({c['wall_s_per_recorded_hour']:.2f} s per "
                "recorded hour)"
            )
    out["machine"] = {
        "cpus": os.cpu_count(),
        "load_avg_1min_before": load0,
        "load_avg_1min_after": os.getloadavg()[0],
        "python": sys.version.split()[0],
        "sqlite": sqlite3.sqlite_version,
    }
    print(f"load average (1 min): {load0:.2f} before, {out['machine']['load_avg_1min_after']:.2f}")
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main(sys.argv[1:])

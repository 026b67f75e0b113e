"""Benchmark: the wall time of the demo (``make demo`` = ``mousestop demo``) and what it shows.

Runs ``mousestop demo OUT --no-view`` as a user would (a fresh process: imports and the
cluster's start-up included), then reads ``OUT/demo.json`` (seconds per step) and
``OUT/run/report.json``: the CNN's out-of-fold accuracy with its cage-level interval and
permutation p, each PCA baseline with the CNN-minus-baseline sign-flip p, chance and the
null reference; with the machine's load average before and after.

Usage::

    python benchmarks/bench_demo.py --json demo_bench.json          # the demo's defaults
    python benchmarks/bench_demo.py --keep /tmp/demo -- --workers 0  # options go to the demo
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--keep", help="write the demo here and keep it (default: a temporary folder)")
    p.add_argument("--json", help="write the figures to this file")
    p.add_argument("demo_args", nargs="*", help="options for `mousestop demo` (after --)")
    a = p.parse_args(argv)
    out = Path(a.keep or tempfile.mkdtemp(prefix="bench_demo_"))
    exe = Path(sys.executable).parent / "mousestop"
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    subprocess.run([str(exe), "demo", str(out), "--no-view", *a.demo_args], check=True)
    wall = time.perf_counter() - t0
    demo = json.loads((out / "demo.json").read_text())
    report = json.loads((out / "run" / "report.json").read_text())
    cnn = report["cnn"]["accuracy"]
    result = {
        "wall_s": wall,
        "steps_s": demo["seconds"],
        "parameters": demo["parameters"],
        "cnn": {
            "accuracy": cnn["value"],
            "interval": [cnn["interval"]["low"], cnn["interval"]["high"]],
            "permutation_p": report["permutation"]["p_value"],
        },
        "baselines": {
            name: {
                "accuracy": report["baselines"][name]["accuracy"]["value"],
                "cnn_minus": c["difference"],
                "sign_flip_p": c["test"]["p_value"],
            }
            for name, c in report["comparisons"].items()
        },
        "chance": report["null_reference"]["chance"],
        "frequency_guess": report["null_reference"]["frequency_guess"],
        "machine": {
            "cpus": os.cpu_count(),
            "load_avg_1min_before": load0,
            "load_avg_1min_after": os.getloadavg()[0],
        },
    }
    if not a.keep:
        shutil.rmtree(out, ignore_errors=True)
    print(f"\ndemo: {wall:.1f} s wall in all; steps {demo['seconds']}")
    print(
        f"CNN {cnn['value']:.3f} (95% {cnn['interval']['low']:.3f}-{cnn['interval']['high']:.3f}, "
        f"permutation p {report['permutation']['p_value']:.3g}); "
        + "; ".join(
            f"{k} {v['accuracy']:.3f} (CNN minus it {v['cnn_minus']:+.3f}, "
            f"p {v['sign_flip_p']:.3g})"
            for k, v in result["baselines"].items()
        )
        + f"; chance {result['chance']:.3f}, training-frequency guess "
        f"{result['frequency_guess']:.3f}"
    )
    after = result["machine"]["load_avg_1min_after"]
    print(f"load average (1 min): {load0:.2f} before, {after:.2f}")
    if a.json:
        Path(a.json).write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main(sys.argv[1:])

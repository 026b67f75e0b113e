"""npe2 sample data: a small generated cohort, opened through the plugin's own reader.

The first use writes one synthetic LMT recording (one cage of four mice, one per class, 2 h) and
its cohort CSV into the user's cache folder; later uses read the cached files.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from napari_mousestop import __version__
from napari_mousestop.gui.layers.recordings import LayerDataTuple
from napari_mousestop.io.atomic import write_text_atomic

SAMPLE_HOURS = 2.0
SAMPLE_SEED = 0
SAMPLE_START = "2024-01-15 05:00"  # the lights come on (07:00) during hour 2


def cache_dir() -> Path:
    """Folder for generated sample files (``$NAPARI_MOUSESTOP_CACHE`` or the user cache)."""
    env = os.environ.get("NAPARI_MOUSESTOP_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "napari-mousestop"


def make_sample_cohort(
    out_dir: str | os.PathLike | None = None, hours: float | None = None
) -> Path:
    """Write (once) the sample recording and cohort CSV; return the recording's path.

    The cage holds one mouse per class (AM, JM, AF, JF) with the synthetic class preferences,
    so the four stacks differ where the classes differ. Files are reused when the recorded
    parameters match.
    """
    from napari_mousestop.io.cohort import CLASSES
    from napari_mousestop.synthetic.generate import MouseSpec, generate_recording
    from napari_mousestop.synthetic.motion import CLASS_PREFERENCES

    hours = SAMPLE_HOURS if hours is None else float(hours)
    out = Path(out_dir) if out_dir is not None else cache_dir() / "sample"
    db = out / "cage01.sqlite"
    stamp = out / "sample.json"
    params = {"version": __version__, "hours": hours, "seed": SAMPLE_SEED, "start": SAMPLE_START}
    try:
        if db.is_file() and json.loads(stamp.read_text()) == params:
            return db
    except (OSError, ValueError):
        pass
    mice = [
        MouseSpec(
            rfid=f"00000{901 + i}",
            name=label,
            sex=label[1],
            age="adult" if label[0] == "A" else "juvenile",
            weights=CLASS_PREFERENCES[label],
        )
        for i, label in enumerate(CLASSES)
    ]
    generate_recording(db, hours=hours, mice=mice, seed=SAMPLE_SEED, start_time=SAMPLE_START)
    rows = ["database,animal,cage,sex,age"]
    rows += [f"{db.name},{m.rfid},cage01,{m.sex},{m.age}" for m in mice]
    write_text_atomic(out / "cohort.csv", "\n".join(rows) + "\n")
    write_text_atomic(stamp, json.dumps(params))
    return db


def sample_recording() -> list[LayerDataTuple]:
    """npe2 sample data command: the generated recording's layers, read by the plugin's reader."""
    from napari_mousestop.gui.reader import get_reader

    db = make_sample_cohort()
    reader = get_reader(str(db))
    layers = reader(str(db)) if reader is not None else None
    return layers or []

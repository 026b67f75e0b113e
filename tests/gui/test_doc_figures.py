"""The script that makes the docs' screenshots runs and writes every image docs/widgets.md shows."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.gui
@pytest.mark.slow
def test_screenshot_script_writes_every_image_the_docs_use(tmp_path, qapp):
    # pytest-xvfb has started a virtual display for this session: the script inherits DISPLAY
    assert os.environ.get("DISPLAY"), "GUI tests run under Xvfb"
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "screenshots.py"),
            "--out",
            str(tmp_path),
            "--epochs",
            "1",
            "--cohort-hours",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    used = set()
    for page in (ROOT / "docs").glob("*.md"):
        used |= set(re.findall(r"images/([\w.-]+\.png)", page.read_text()))
    assert used, "the docs show no screenshots"
    for name in used:
        image = tmp_path / name
        assert image.exists(), f"{name} is used by the docs but not made by the script"
        assert image.stat().st_size > 10_000, f"{name} looks empty"

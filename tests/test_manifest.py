"""The npe2 manifest: valid, in the wheel with its entry point, discovered by napari."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from npe2 import PluginManager

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = "napari-mousestop"


def test_npe2_validate_passes_with_imports():
    # the installed plugin's manifest, every python_name imported
    result = subprocess.run(
        [sys.executable, "-m", "npe2", "validate", PLUGIN, "--imports"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "valid" in result.stdout


def test_package_manifest_is_the_root_manifest():
    packaged = ROOT / "src" / "napari_mousestop" / "napari.yaml"
    assert packaged.read_text() == (ROOT / "napari.yaml").read_text()


def test_plugin_manager_discovers_reader_writer_and_sample(tmp_path):
    pm = PluginManager()
    pm.discover(include_npe1=False)
    manifest = pm.get_manifest(PLUGIN)
    assert manifest.name == PLUGIN
    readers = {r.command for r in pm.iter_compatible_readers([str(tmp_path / "x.sqlite")])}
    assert f"{PLUGIN}.get_reader" in readers
    readers = {r.command for r in pm.iter_compatible_readers([str(tmp_path / "x.npz")])}
    assert f"{PLUGIN}.get_reader" in readers
    writers = {w.command for w in pm.iter_compatible_writers(["points"])}
    assert f"{PLUGIN}.write_points" in writers
    samples = dict(pm.iter_sample_data())
    assert any(s.key == "recording" for s in samples[PLUGIN])


@pytest.mark.slow
def test_wheel_ships_manifest_layout_and_entry_point(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    (wheel,) = tmp_path.glob("napari_mousestop-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        manifest = zf.read("napari_mousestop/napari.yaml").decode()
        (ep_file,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        entry_points = zf.read(ep_file).decode()
    assert manifest == (ROOT / "napari.yaml").read_text()  # the real file, not a symlink
    assert "napari_mousestop/io/cage_layout.toml" in names
    assert "napari_mousestop/gui/reader.py" in names
    assert "[napari.manifest]" in entry_points
    assert "napari-mousestop = napari_mousestop:napari.yaml" in entry_points

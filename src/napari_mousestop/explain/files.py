"""One self-describing maps file: explanation maps with their cm coordinates, as NetCDF.

:func:`save_maps` writes every map of a run into one NetCDF file (xarray, engine ``h5netcdf``):
each map is a variable whose dimensions are named (``class``, ``contrast``, ``channel``,
``sample``, ``hour`` and a ``y_<grid>``, ``x_<grid>`` pair), the spatial coordinates hold the
pixel centres in cm (so ``translate`` is the first coordinate and ``scale`` the step, as napari
wants them) and every parameter is an attribute. Open it with
``xarray.open_dataset("maps.nc")`` or with :func:`load_maps`, which gives back the
:class:`~napari_mousestop.explain.maps.ExplanationMap` objects.

Folders written by earlier versions (one ``.npz`` per map and a ``maps.json`` index) still load
with :func:`load_maps`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from napari_mousestop._json import jsonable as _jsonable
from napari_mousestop.io.atomic import atomic_path
from napari_mousestop.io.geometry import Placement

FORMAT = "napari-mousestop-maps/2"
"""Value of the ``format`` attribute of a maps file."""
MAPS_FILE = "maps.nc"
"""Name of the maps file inside an explanation folder."""
_LEGACY_FORMAT = "napari-mousestop-maps/1"

if TYPE_CHECKING:  # the map classes need torch: imported where maps are built, not to read a file
    from napari_mousestop.explain.maps import ExplanationMap, HourProfile
_SPACE = {"y": "y (cm from the floor's top edge, downwards)", "x": "x (cm from the left wall)"}


def netcdf_attrs(d: dict[str, Any]) -> dict[str, Any]:
    """Attributes NetCDF can hold: numbers, strings and lists of numbers as they are, booleans as
    0/1, anything else as JSON text."""
    out: dict[str, Any] = {}
    for key, value in d.items():
        value = _jsonable(value)
        if isinstance(value, bool):
            out[key] = int(value)
        elif isinstance(value, int | float | str):
            out[key] = value
        elif value is None:
            out[key] = "none"
        elif (
            isinstance(value, list)
            and value
            and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
        ):
            out[key] = np.asarray(value, dtype=float)
        else:
            out[key] = json.dumps(value)
    return out


def _grid_hint(m: ExplanationMap) -> str:
    k = m.meta.get("kernel_size")
    if k is None or m.meta.get("on_grid"):
        return "occlusion" if "patch" in m.meta else "bins"
    pooled = m.meta.get("layer", "pool") == "pool"  # contributions sit on the pooled grid
    return f"k{k}_pool" if pooled else f"k{k}"


class _Grids:
    """Names of the spatial grids of a file: one (y, x) dimension pair per distinct placement."""

    def __init__(self) -> None:
        self.by_key: dict[tuple, str] = {}
        self.coords: dict[str, Any] = {}

    def dims(self, m: ExplanationMap) -> tuple[str, str]:
        import xarray as xr

        shape = m.data.shape[-2:]
        key = (shape, *np.round(m.placement.scale, 9), *np.round(m.placement.translate, 9))
        if key not in self.by_key:
            name, n = _grid_hint(m), 2
            while name in self.by_key.values():
                name, n = f"{_grid_hint(m)}_{n}", n + 1
            self.by_key[key] = name
            for axis, size, scale, translate in zip(
                "yx", shape, m.placement.scale, m.placement.translate, strict=True
            ):
                self.coords[f"{axis}_{name}"] = xr.Variable(
                    f"{axis}_{name}",
                    translate + scale * np.arange(size),
                    {"units": "cm", "long_name": _SPACE[axis], "scale_cm": float(scale)},
                )
        name = self.by_key[key]
        return f"y_{name}", f"x_{name}"


def _variable(m: ExplanationMap | HourProfile, grids: _Grids):
    """(dims, data, attrs) of one map, and the label coordinates its leading axes need."""
    from napari_mousestop.explain.maps import ExplanationMap, HourProfile

    coords: dict[str, Any] = {}
    dims = list(m.axes)
    if isinstance(m, ExplanationMap):
        dims[-2:] = grids.dims(m)
    for i, axis in enumerate(dims):
        size = m.data.shape[i]
        if axis in ("class", "contrast", "pair") and len(m.classes) == size:
            coords[axis] = list(m.classes)
        elif axis == "channel":
            coords[axis] = np.arange(size)
        elif axis == "hour" and isinstance(m, HourProfile):
            coords[axis] = xr_hours(size, m.interval_h)
    attrs = {
        "kind": m.kind,
        "long_name": m.meta.get("long_name", m.name),
        "units": m.meta.get("units", ""),
        "meta": json.dumps(_jsonable(m.meta)),
    }
    if isinstance(m, ExplanationMap):
        attrs["scale_cm"] = list(m.placement.scale)
        attrs["translate_cm"] = list(m.placement.translate)
    else:
        attrs["interval_h"] = m.interval_h
    data = m.data
    if data.dtype == bool:
        data = data.astype(np.uint8)
    return (tuple(dims), data, netcdf_attrs(attrs)), coords


def xr_hours(n: int, interval_h: float) -> np.ndarray:
    """Start of each interval in hours since the recording started."""
    return np.arange(n) * float(interval_h)


def save_maps(
    maps: Sequence[ExplanationMap | HourProfile],
    path: str | os.PathLike,
    attrs: dict | None = None,
    variables: dict[str, tuple] | None = None,
    coords: dict[str, Any] | None = None,
) -> Path:
    """Write maps into one NetCDF file (atomically).

    Parameters
    ----------
    maps
        Maps and hour profiles with unique names; each becomes a variable of that name.
    path
        The ``.nc`` file to write (or a folder: ``<folder>/maps.nc``).
    attrs
        File attributes (run, dataset, every parameter); nested values are stored as JSON.
    variables
        More variables, ``name: (dims, values, attrs)`` (e.g. per-contrast smallest p).
    coords
        More coordinates, ``name: (dims, values)`` (e.g. each sample's cage and class).

    Returns
    -------
    Path
        The file written.
    """
    import xarray as xr

    path = Path(path)
    if path.suffix != ".nc":
        path = path / MAPS_FILE
    names = [m.name for m in maps] + list(variables or {})
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"map names must be unique; repeated: {dup}")
    grids = _Grids()
    data_vars: dict[str, Any] = {}
    label_coords: dict[str, Any] = {}
    for m in maps:
        data_vars[m.name], extra = _variable(m, grids)
        for key, values in extra.items():
            if key in label_coords and list(label_coords[key]) != list(values):
                raise ValueError(f"map {m.name!r}: its {key} labels differ from other maps'")
            label_coords[key] = values
    for name, (dims, values, var_attrs) in (variables or {}).items():
        data_vars[name] = (dims, np.asarray(values), netcdf_attrs(var_attrs))
    all_coords = {**grids.coords, **label_coords, **(coords or {})}
    file_attrs = netcdf_attrs({"format": FORMAT, **(attrs or {})})
    ds = xr.Dataset(data_vars, coords=all_coords, attrs=file_attrs)
    with atomic_path(path, suffix=".nc") as tmp:
        ds.to_netcdf(tmp, engine="h5netcdf")
    return path


def is_maps_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a maps file written by :func:`save_maps` (never raises)."""
    try:
        import h5py

        with h5py.File(path, "r") as fh:
            fmt = fh.attrs.get("format")
        fmt = fmt.decode() if isinstance(fmt, bytes) else fmt
        return isinstance(fmt, str) and fmt.startswith("napari-mousestop-maps/")
    except Exception:
        return False


def open_maps(path: str | os.PathLike):
    """The maps file as an :class:`xarray.Dataset` (loaded into memory, file closed).

    ``path`` is the ``.nc`` file or the folder holding ``maps.nc``.
    """
    import xarray as xr

    path = Path(path)
    if path.is_dir():
        path = path / MAPS_FILE
    if not is_maps_file(path):
        raise ValueError(f"{path}: not a maps file written by `mousestop explain`")
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        return ds.load()


def placement_of(var) -> Placement | None:
    """The placement (cm) of a maps-file variable whose last two dimensions are y and x."""
    if var.ndim < 2 or not (var.dims[-2].startswith("y_") and var.dims[-1].startswith("x_")):
        return None
    if "scale_cm" in var.attrs:
        scale = tuple(float(s) for s in np.ravel(var.attrs["scale_cm"]))
        translate = tuple(float(t) for t in np.ravel(var.attrs["translate_cm"]))
        return Placement(scale, translate)  # type: ignore[arg-type]
    ys, xs = (np.asarray(var[d]) for d in var.dims[-2:])
    scale = tuple(float(c[1] - c[0]) if len(c) > 1 else 1.0 for c in (ys, xs))
    return Placement(scale, (float(ys[0]), float(xs[0])))  # type: ignore[arg-type]


def _axis_names(dims: Sequence[str]) -> tuple[str, ...]:
    return tuple(d.split("_")[0] if d.startswith(("y_", "x_")) else d for d in dims)


def load_maps(path: str | os.PathLike) -> dict[str, ExplanationMap | HourProfile]:
    """Read the maps of a maps file (or of a folder holding one, or an older maps folder).

    Raises
    ------
    ValueError
        If ``path`` holds no maps, or an older folder lists a missing file.
    """
    from napari_mousestop.explain.maps import ExplanationMap, HourProfile

    path = Path(path)
    if path.is_dir() and not (path / MAPS_FILE).is_file():
        if (path / "maps.json").is_file():
            return _load_legacy(path)
        raise ValueError(
            f"{path}: no {MAPS_FILE} and no maps.json (not a folder written by `mousestop explain`)"
        )
    ds = open_maps(path)
    out: dict[str, ExplanationMap | HourProfile] = {}
    for name, var in ds.data_vars.items():
        if "kind" not in var.attrs:
            continue  # per-contrast numbers, not maps
        meta = json.loads(var.attrs.get("meta", "{}"))
        axes = _axis_names(var.dims)
        labels = next((d for d in var.dims if d in ("class", "contrast", "pair")), None)
        classes = tuple(str(c) for c in ds[labels].values) if labels else ()
        if "class" not in var.dims and "classes" in meta:
            classes = tuple(meta["classes"])
        data = np.asarray(var.values)
        placement = placement_of(var)
        if placement is not None:
            kind = var.attrs["kind"]
            out[name] = ExplanationMap(name, data, placement, classes, kind, axes, meta)
        else:
            out[name] = HourProfile(
                name,
                data,
                classes,
                var.attrs["kind"],
                axes,
                float(var.attrs.get("interval_h", 1.0)),
                meta,
            )
    return out


def _load_legacy(maps_dir: Path) -> dict[str, ExplanationMap | HourProfile]:
    """Folders of ``napari-mousestop-maps/1``: one ``.npz`` per map and ``maps.json``."""
    from napari_mousestop.explain.maps import ExplanationMap, HourProfile

    index_path = maps_dir / "maps.json"
    doc = json.loads(index_path.read_text(encoding="utf-8"))
    if doc.get("format") != _LEGACY_FORMAT:
        raise ValueError(f"{index_path}: unknown maps format {doc.get('format')!r}")
    out: dict[str, ExplanationMap | HourProfile] = {}
    for e in doc["maps"]:
        path = maps_dir / e["file"]
        if not path.is_file():
            raise ValueError(f"{path}: listed in maps.json but missing")
        with np.load(path, allow_pickle=False) as npz:
            data = npz["data"]
        common = dict(name=e["name"], data=data, classes=tuple(e["classes"]), kind=e["kind"])
        meta = {**e["meta"], "legacy_format": _LEGACY_FORMAT}
        if "placement" in e:
            pl = e["placement"]
            out[e["name"]] = ExplanationMap(
                placement=Placement(tuple(pl["scale"]), tuple(pl["translate"])),
                axes=tuple(e["axes"]),
                meta=meta,
                **common,
            )
        else:
            out[e["name"]] = HourProfile(
                axes=tuple(e["axes"]), interval_h=e["interval_h"], meta=meta, **common
            )
    return out

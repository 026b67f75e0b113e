"""Parameter forms built from the core's dataclasses (defaults and tooltips from docstrings)."""

from __future__ import annotations

import dataclasses
import re
import typing
from collections.abc import Sequence
from typing import Any

from magicgui.widgets import Container, create_widget

WORDS = {"lr": "learning rate", "n": "number of", "cv": "cross-validation"}
"""Abbreviations of field names, spelled out in form labels."""
UNITS = (("_cm_s", "cm/s"), ("_cm2", "cm²"), ("_cm", "cm"), ("_s", "s"), ("_h", "h"),
         ("_px", "pixels"), ("_hz", "Hz"))  # fmt: skip
"""Field name endings that are units, shown in brackets in form labels."""


def plain_label(name: str) -> str:
    """A form label for a field name: words spelled out, units in brackets
    (``speed_threshold_cm_s`` -> ``speed threshold (cm/s)``, ``lr`` -> ``learning rate``)."""
    unit = ""
    for end, text in UNITS:
        if name.endswith(end) and len(name) > len(end):
            name, unit = name[: -len(end)], f" ({text})"
            break
    words = [WORDS.get(w, w) for w in name.split("_")]
    return " ".join(words) + unit


def plain_text(doc: str) -> str:
    """Docstring text without reStructuredText markup, for a tooltip
    (``:class:`~a.B``` -> ``B``, double back-quotes and roles dropped; None, which a form
    shows as an empty box, said as "empty")."""
    doc = re.sub(r":[a-z]+:`~?([^`<]*?)(?:\s*<[^>]*>)?`", lambda m: m.group(1).split(".")[-1], doc)
    doc = doc.replace("``", "").replace("`", "")
    doc = re.sub(r"\bNone\b", "empty", doc)  # an optional field's None is an empty box
    return re.sub(r"\s+", " ", doc).strip()


def docstring_params(cls: type) -> dict[str, str]:
    """Parameter descriptions from a numpydoc ``Parameters`` section (for tooltips)."""
    doc = typing.cast(str, cls.__doc__ or "")
    match = re.search(r"Parameters\n\s*-+\n(.*?)(\n\s*\n\s*[A-Z][a-z]+\n\s*-+|\Z)", doc, re.S)
    if not match:
        return {}
    out: dict[str, str] = {}
    current: list[str] = []
    for line in match.group(1).splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        indent = len(line) - len(line.lstrip())
        if indent <= 4 and re.match(r"^[A-Za-z_][\w, ]*$", stripped):
            current = [n.strip() for n in stripped.split(",")]
            for n in current:
                out[n] = ""
        else:
            for n in current:
                out[n] = (out[n] + " " + stripped).strip()
    return out


def dataclass_form(
    cls: type,
    choices: dict[str, Sequence[Any]] | None = None,
    skip: Sequence[str] = (),
    labels: dict[str, str] | None = None,
    defaults: dict[str, Any] | None = None,
    none_text: dict[str, str] | None = None,
) -> Container:
    """A magicgui form with one widget per field of dataclass ``cls``, defaults and tooltips.

    An ``int | None`` field is a spin box whose 0 means None, shown as its ``none_text``
    (default "none"). Read the values back with :func:`form_values`
    (``cls(**form_values(form))``).
    """
    hints = typing.get_type_hints(cls)
    tips = docstring_params(cls)
    choices = choices or {}
    labels = labels or {}
    defaults = defaults or {}
    none_text = none_text or {}
    widgets = []
    for f in dataclasses.fields(cls):
        if f.name in skip or not f.init:
            continue
        value = defaults.get(f.name, f.default)
        if value is dataclasses.MISSING:
            value = f.default_factory() if f.default_factory is not dataclasses.MISSING else None
        hint = hints.get(f.name, type(value))
        options: dict[str, Any] = {"tooltip": plain_text(tips.get(f.name, ""))}
        label = labels.get(f.name, plain_label(f.name))
        if f.name in choices:
            options["choices"] = list(choices[f.name])
            w = create_widget(
                value=value, name=f.name, label=label, options=options, widget_type="ComboBox"
            )
        elif hint is bool:
            w = create_widget(
                value=value, name=f.name, label=label, annotation=bool, options=options
            )
        elif hint is int:
            options.update(min=0, max=10**9)
            w = create_widget(
                value=value, name=f.name, label=label, annotation=int, options=options
            )
        elif hint == int | None:  # 0: None, said in words
            options.update(min=0, max=10**9)
            w = create_widget(
                value=value or 0, name=f.name, label=label, annotation=int, options=options
            )
            w.native.setSpecialValueText(none_text.get(f.name, "none"))
            w._mousestop_kind = "optional int"
        elif hint is float:  # text, so 1e-3 and 0.25 both keep their digits
            w = create_widget(
                value=f"{value:g}", name=f.name, label=label, annotation=str, options=options
            )
            w._mousestop_kind = "float"
        else:  # str, str | None, tuples: text
            text = "" if value is None else _to_text(value)
            w = create_widget(value=text, name=f.name, label=label, annotation=str, options=options)
            w._mousestop_kind = _text_kind(hint, value)
        widgets.append(w)
    return Container(widgets=widgets, labels=True)


def _to_text(value: Any) -> str:
    if isinstance(value, tuple | list):
        return ", ".join(str(v) for v in value)
    return str(value)


def _text_kind(hint: Any, value: Any) -> str:
    args = typing.get_args(hint)
    if isinstance(value, tuple) or typing.get_origin(hint) is tuple:
        return "tuple"
    if type(None) in args:
        return "optional"
    return "str"


def form_values(form: Container) -> dict[str, Any]:
    """The values of a :func:`dataclass_form` (empty optional text -> None, tuples parsed)."""
    out: dict[str, Any] = {}
    for w in form:
        kind = getattr(w, "_mousestop_kind", None)
        value = w.value
        if kind == "float":
            try:
                value = float(value)
            except ValueError:
                raise ValueError(f"{w.label}: {value!r} is not a number") from None
        elif kind == "optional":
            value = value.strip() or None
        elif kind == "optional int":
            value = int(value) or None
        elif kind == "tuple":
            parts = [p.strip() for p in str(value).split(",") if p.strip()]
            value = tuple(int(p) if re.fullmatch(r"-?\d+", p) else float(p) for p in parts)
        out[w.name] = value
    return out

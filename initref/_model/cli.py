"""``initref diagnose FILE``: diagnose the weights saved in a file.

* ``.pt`` / ``.pth``: a PyTorch ``state_dict`` (``torch.load(weights_only=True)``; a
  checkpoint whose "state_dict", "model_state_dict" or "model" entry is one works too).  Every
  ``*weight`` tensor with 2 or more dimensions is a layer, its fans from its shape in torch's
  layout ``[out, in / groups, *kernel]``.  A state_dict has no graph, so one activation,
  ``--activation`` (default relu), is taken to follow every layer.
* ``.keras``: a Keras 3 model file; activations from the layers' configs, ``--activation``
  only for layers whose configs do not tell (none given: such a layer is an error).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from . import common

SUFFIXES = (".pt", ".pth", ".keras")
_NESTED = ("state_dict", "model_state_dict", "model")


class DiagnoseInputError(ValueError):
    """A file that cannot be diagnosed: the message is one line for the command line."""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0][:200] if text else ''}"


def load_report(path: Path, activation: str | None) -> common.DiagnoseReport:
    if path.suffix not in SUFFIXES:
        raise DiagnoseInputError(
            f"FILE: {str(path)!r} has suffix {path.suffix!r} (accepted: {', '.join(SUFFIXES)})"
        )
    if not path.is_file():
        raise DiagnoseInputError(f"FILE: {str(path)!r} does not exist or is not a file")
    if activation is not None:
        from .._generated import numpy_init

        try:
            common.resolve(activation, numpy_init.VARIANCE_GAINS, "--activation")
        except ValueError as exc:
            raise DiagnoseInputError(str(exc)) from None
    if path.suffix == ".keras":
        return _keras(path, activation)
    return _torch(path, "relu" if activation is None else activation)


def _torch(path: Path, activation: str) -> common.DiagnoseReport:
    import torch

    from .torch import diagnose_state_dict

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # unreadable, not a zip/pickle, or not weights only
        raise DiagnoseInputError(
            f"FILE: {str(path)!r} is not a readable state_dict ({_first_line(exc)})"
        ) from None
    if isinstance(state, dict) and not any(isinstance(v, torch.Tensor) for v in state.values()):
        nested = [state[k] for k in _NESTED if isinstance(state.get(k), dict)]
        if nested:
            state = nested[0]
    if not isinstance(state, dict):
        raise DiagnoseInputError(
            f"FILE: {str(path)!r} holds a {type(state).__name__}, not a state_dict "
            "(accepted: model.state_dict() saved with torch.save)"
        )
    try:
        return diagnose_state_dict(state, activation)
    except (TypeError, ValueError) as exc:
        raise DiagnoseInputError(f"FILE: {str(path)!r}: {exc}") from None


def _keras(path: Path, activation: str | None) -> common.DiagnoseReport:
    import keras

    from .. import keras as initref_keras  # registers initref's initializers for loading
    from .keras import diagnose

    try:
        model = keras.saving.load_model(path, compile=False)
    except Exception as exc:
        raise DiagnoseInputError(
            f"FILE: {str(path)!r} is not a readable .keras model ({_first_line(exc)})"
        ) from None
    del initref_keras
    try:
        return diagnose(model, default_activation=activation)
    except (TypeError, ValueError) as exc:
        raise DiagnoseInputError(f"FILE: {str(path)!r}: {exc}") from None


def _plain(x: Any) -> Any:
    """JSON-safe: non-finite floats as strings, tuples as lists."""
    if isinstance(x, float) and not math.isfinite(x):
        return "inf" if x > 0 else "-inf" if x < 0 else "nan"
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_plain(v) for v in x]
    return x


def run(path: str, activation: str | None, as_json: bool, figure: str | None) -> str:
    """The command's output text; raises DiagnoseInputError for a bad file."""
    report = load_report(Path(path), activation)
    if figure is not None:
        report.figure(figure)
    if as_json:
        return json.dumps(_plain(report.as_dict()), sort_keys=True, indent=1, allow_nan=False)
    return report.table()

"""initref's Keras 3 / TensorFlow module: everything in tf_init.py (see its docstring, below),
and the model-level ``initialize`` and ``diagnose``."""

from ._generated import tf_init as _generated
from ._generated.tf_init import *  # noqa: F403
from ._model.keras import diagnose, initialize

__all__ = [*_generated.__all__, "diagnose", "initialize"]
__doc__ = (
    (_generated.__doc__ or "")
    + """
Model level: ``initialize(model, ...)`` initializes every Dense, Conv*, Conv*Transpose and
Embedding of a built model for the activation that follows it (from the layers' configs and
the model's graph, or given by name) and returns a report; ``diagnose(model)`` tells which
known rule each layer's weights follow and predicts the second moment at depth (see
initref._model.keras).
"""
)

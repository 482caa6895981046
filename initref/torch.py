"""initref's PyTorch module: everything in torch_init.py (see its docstring, below), and the
model-level ``initialize`` and ``diagnose``."""

from ._generated import torch_init as _generated
from ._generated.torch_init import *  # noqa: F403
from ._model.torch import diagnose, initialize

__all__ = [*_generated.__all__, "diagnose", "initialize"]
__doc__ = (
    (_generated.__doc__ or "")
    + """
Model level: ``initialize(model, ...)`` initializes every nn.Linear, nn.Conv*,
nn.ConvTranspose* and nn.Embedding for the activation that follows it (found by torch.fx, or
given by name) and returns a report; ``diagnose(model)`` tells which known rule each layer's
weights follow and predicts the second moment at depth (see initref._model.torch).
"""
)

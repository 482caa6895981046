"""initref's Flax module: model-level ``initialize`` and ``diagnose`` for linen and nnx models,
drawing with :mod:`initref.jax` (see initref._model.flax).

    report = initref.flax.initialize(nnx_model)                      # in place
    report = initref.flax.initialize(linen_module, params=variables)  # report.params: new ones
    report = initref.flax.initialize(any_model, inputs=x, residual_scaling=True)  # traced
    print(initref.flax.diagnose(nnx_model))
"""

from ._model.flax import diagnose, initialize

__all__ = ["diagnose", "initialize"]

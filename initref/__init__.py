"""initref: variance-scaling weight initialization, derived and checked.

Import the module of the framework you use; each needs only that framework (and NumPy):

- :mod:`initref.numpy`  -- initializers taking a ``numpy.random.Generator``
- :mod:`initref.torch`  -- in-place ``torch.nn.init``-style functions
- :mod:`initref.keras`  -- Keras 3 ``Initializer`` classes
- :mod:`initref.jax`    -- ``jax.nn.initializers``-style ``init(key, shape, dtype)`` functions
- :mod:`initref.constants` -- the derived constant tables (plain Python data)

Each framework module re-exports the generated file of the same name in the source tree's
``generated/`` (``numpy_init.py``, ``torch_init.py``, ``tf_init.py``, ``jax_init.py``,
``constants.py``), which the package carries byte for byte in ``initref._generated``: copying
that file next to a model gives the same functions.

The generator (SymPy/mpmath derivations, Jinja2 templates, the ``initref`` command) is
:mod:`initref._derive`, which is the source tree's ``derive`` package installed under this
package's name, so an unrelated distribution called ``derive`` can neither shadow it nor be
overwritten by it.
"""

from ._derive import __version__

__all__ = ["__version__"]

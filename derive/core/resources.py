"""The package's data files, found through :mod:`importlib.resources`.

``derive/_data/`` holds the Jinja2 templates and the default spec.  In the source tree its
entries are symbolic links to the top-level ``templates/`` and ``pyproject.toml`` (the layout
stays as it is); a wheel or ``pip install .`` carries copies of the files (package data), and
an editable install or a plain checkout reads them through the links.  Either way the code
reads them here and nowhere else.
"""

from __future__ import annotations

import importlib.resources
from importlib.resources.abc import Traversable

DATA = "_data"
# the generator's own package: ``derive`` in a checkout, ``initref._derive`` installed
PACKAGE = __name__.rsplit(".", 2)[0]
DEFAULT_SPEC_NAME = "default_spec.toml"


def data_dir() -> Traversable:
    return importlib.resources.files(PACKAGE).joinpath(DATA)


def template_dir() -> Traversable:
    """The Jinja2 templates (``templates/*.j2`` in the source tree)."""
    return data_dir().joinpath("templates")


def default_spec_file() -> Traversable:
    """The default spec: the project's ``pyproject.toml`` ([tool.initref] is read from it)."""
    return data_dir().joinpath(DEFAULT_SPEC_NAME)

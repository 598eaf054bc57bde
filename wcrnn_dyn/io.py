"""Deprecated alias of :mod:`wcrnn_dyn.store` (the name ``io`` shadowed the standard library's module).

Importing it warns (DeprecationWarning); it will be removed in the next release.  Use
``from wcrnn_dyn import store``.
"""
import warnings

from .store import *  # noqa: F401,F403
from .store import __all__  # noqa: F401

warnings.warn("wcrnn_dyn.io is deprecated and will be removed in the next release: use wcrnn_dyn.store "
              "(the name io shadowed the standard library's module)", DeprecationWarning, stacklevel=2)

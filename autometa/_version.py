"""The version of autometa: one place, read by the package build and by ``autometa.__version__``."""

__version__ = "0.1.0"

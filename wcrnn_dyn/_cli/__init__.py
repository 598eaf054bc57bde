"""Subcommands of ``wcrnn-dyn`` (one module each; see :mod:`wcrnn_dyn.cli`)."""

"""The ``rlm`` command: ``rlm run``, ``rlm models``, ``rlm replay`` (see ``rlm.cli.main``)."""

from rlm.cli.main import main

__all__ = ["main"]

"""The ``smsgate`` command line: ``app`` is its Typer application, ``main`` its entry point.

One module per command group; ``app`` puts them together, ``context`` holds what they share.
"""

from smsgate.cli.app import app, main

__all__ = ["app", "main"]

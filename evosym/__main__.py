"""``python -m evosym``: the same as the ``evosym`` command."""

from .cli.main import run

run()

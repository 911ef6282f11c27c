"""The command-line interface (``evosym`` and ``python -m evosym``)."""

"""jinja2 templates of evosym's code generators (installed as ``evosym.templates``)."""

"""Code generation from the Evolution form: plans, the SymPy→torch compiler, templates, checks."""

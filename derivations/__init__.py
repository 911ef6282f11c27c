"""The evosym operator catalogue: one module per operator, each defining ``OPERATOR`` and ``derive``.

A module is also the template for a user's own operator file: ``OPERATOR`` is an
:class:`evosym.Operator` in its traditional form and ``derive(d)`` names the rules that take it
to the Evolution form, ending with ``d.conclude(omega=…, channel=…, neighbour=…)``.
"""

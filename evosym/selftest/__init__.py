"""The self-test: seeded mutants that the proof checker, the property checks and the numeric
checks must all kill (``evosym selftest``)."""

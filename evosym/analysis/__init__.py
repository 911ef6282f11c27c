"""Kernel properties and costs, derived from the symbolic kernel and checked, not declared."""

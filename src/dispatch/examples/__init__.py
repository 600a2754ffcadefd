"""Example days and their generator."""

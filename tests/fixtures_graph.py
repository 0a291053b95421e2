"""Fixtures for the graph area (see tests/conftest.py)."""

"""Fixtures for the demo area (see tests/conftest.py)."""

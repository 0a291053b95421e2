"""Fixtures for the bundle area (see tests/conftest.py)."""

"""Fixtures for the model area (see tests/conftest.py)."""

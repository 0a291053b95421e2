"""Fixtures for the neo4j area (see tests/conftest.py)."""

"""Catalogs: the curator's tables on disk, their validation, and what they become in the graph.

>>> from kgjemb.catalog import validate_catalog, catalog_to_rows
>>> catalog, report = validate_catalog("graph/fixtures/example")
>>> rows = catalog_to_rows(catalog) if report.valid else None
"""
from __future__ import annotations

__all__ = ["Catalog", "Problem", "ValidationReport", "build_rows", "catalog_to_rows", "select_rows", "validate_catalog"]

# Lazy: kgjemb.graph.base imports kgjemb.catalog.schema, and rows imports kgjemb.graph.base;
# importing the submodules here eagerly would make that a cycle.
_WHERE = {
    "Catalog": "validate", "validate_catalog": "validate",
    "Problem": "problems", "ValidationReport": "problems",
    "catalog_to_rows": "rows", "select_rows": "rows", "build_rows": "rows",
}


def __getattr__(name: str):
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(f"kgjemb.catalog.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'kgjemb.catalog' has no attribute {name!r}")

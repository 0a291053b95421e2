"""Session fixtures, one plugin module per area so that each area owns its fixtures.

Chain of real artifacts (each built once per session, cached under .cache/ by content):
  fixture_catalog (graph/fixtures) · ci_catalog (demo builder subset, real audio)
  → neo4j_uri (real Neo4j 5 over Bolt) · embedded stores
  → trained_model_dir (short real training run) → bundle_dir (FAISS bundle) → engine
"""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

pytest_plugins = [
    "tests.fixtures_graph",
    "tests.fixtures_neo4j",
    "tests.fixtures_demo",
    "tests.fixtures_model",
    "tests.fixtures_bundle",
    "tests.fixtures_milvus",
]

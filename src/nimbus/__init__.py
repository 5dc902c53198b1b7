"""Nimbus: a self-hosted serverless function platform that speaks AWS Lambda's wire protocols."""

from nimbus import compiled

__version__ = "0.1.0"

# before any other module of ours is imported: a compiled module loads only from a fresh build (nimbus/compiled.py)
compiled.install()

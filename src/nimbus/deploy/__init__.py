"""Deployment helpers: example folders (and, later, SAM templates) turned into what CreateFunction takes.

Pure code: data in, zips and config dicts out; applying them to the registry is the server's job.
"""

from __future__ import annotations

from nimbus.deploy.examples import CONFIG_FILE, ExampleFunction, load_examples, read_config, zip_folder

__all__ = ["CONFIG_FILE", "ExampleFunction", "load_examples", "read_config", "zip_folder"]

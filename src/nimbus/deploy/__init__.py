"""Deployment helpers: example folders (and, later, SAM templates) turned into what CreateFunction takes.

`examples.py` is pure code: data in, zips and config dicts out. `sync.py` applies them to the registry for
`nimbus serve --deploy` (only what is missing or changed, never over a user's edits).
"""

from __future__ import annotations

from nimbus.deploy.examples import CONFIG_FILE, ExampleFunction, load_examples, read_config, zip_folder

__all__ = ["CONFIG_FILE", "ExampleFunction", "load_examples", "read_config", "zip_folder"]

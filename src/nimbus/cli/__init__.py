"""The `nimbus` command: a thin client over the public API (boto3), plus `serve`, which runs the server
in-process.

Nothing here holds platform logic: every client command is one or two API calls and their presentation.
The Typer app is `nimbus.cli.main:app` (not re-exported here, so `python -m nimbus.cli.main` imports it once).
"""

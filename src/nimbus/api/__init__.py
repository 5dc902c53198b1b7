"""The HTTP front door: ASGI app, SigV4 authentication, one module per wire API, errors mapped in one place."""

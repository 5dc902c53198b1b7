"""Qualifier resolution and synchronous dispatch of invocations to instances."""

"""Nimbus: a self-hosted serverless function platform that speaks AWS Lambda's wire protocols."""

__version__ = "0.1.0"

"""The registry: functions and their configuration (validated), code blobs, and the specs instances run."""

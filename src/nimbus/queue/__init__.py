"""Durable queues: one contract (`contract.py`) for async invocations, the built-in SQS-compatible queues,
retries and destination deliveries; SQLite implements it now, NATS JetStream later."""

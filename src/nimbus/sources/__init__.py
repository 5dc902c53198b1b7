"""Event sources: pollers that read a source (a built-in queue, later streams and brokers) and run a function
through the one door (`invoke.Invoker`), and the event source mappings that say which source feeds which function.
`poller.py` is the base every source reuses (workers that scale with the backlog, batches, backoff); one module
per source builds its records and settles its batches (`sqs_poller.py`)."""

"""Log capture, the START/END/REPORT framing, durable storage with retention, and tail/follow queries."""

"""What runs inside instances: the runtime registry (which interpreters this host has) and the bootstraps."""

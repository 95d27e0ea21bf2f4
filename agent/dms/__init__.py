"""Driver-monitoring policy: the pure DMS state machine and its settings."""

"""Pure telemetry rules: timestamped inputs in, events out; no clock reads, no I/O."""

"""Technician commands (``edge-agent diag ...``): each module adds its own subcommand."""

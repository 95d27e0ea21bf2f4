"""``python -m agent`` runs the same CLI as the ``edge-agent`` console command."""

from agent.cli import main

raise SystemExit(main())

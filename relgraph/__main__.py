"""``python -m relgraph`` runs the CLI."""

from relgraph.cli import main

main()

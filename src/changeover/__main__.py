"""`python -m changeover` runs the CLI."""

from changeover.cli.app import main

main()

"""``python -m simulator`` runs the hubsim CLI."""

from .cli import main

main()

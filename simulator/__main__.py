"""``python -m simulator``: the same as ``hubsim``."""

from .cli import main

main()

"""The null sink, for ``make bench``: see :mod:`simulator.null_sink`."""

from __future__ import annotations

from simulator.null_sink import main

if __name__ == "__main__":
    main()

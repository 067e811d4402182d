"""``python -m demo``: run :func:`demo.run.main` (what ``make demo`` does)."""

import sys

from demo.run import main

if __name__ == "__main__":
    sys.exit(main())

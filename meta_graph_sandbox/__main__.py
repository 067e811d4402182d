"""``python -m meta_graph_sandbox``: the sandbox's command line (:mod:`meta_graph_sandbox.cli`)."""

import sys

from meta_graph_sandbox.cli import main

if __name__ == "__main__":
    sys.exit(main())

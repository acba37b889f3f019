"""Entry script of the frozen build: the same ``main`` as the ``webhook-inspector`` command.

``inspector.cli.main`` also runs the session writer when the engine starts this executable
again with the writer's hidden argument (a frozen build has no ``python -m``).
"""

import sys

from inspector.cli import main

if __name__ == "__main__":
    sys.exit(main())

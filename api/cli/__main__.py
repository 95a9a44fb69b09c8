"""``python -m osler.api.cli``: how the embedded stack starts its own processes."""

import sys

from osler.api.cli.main import main

if __name__ == "__main__":  # not when a spawned child process imports this module
    sys.exit(main())

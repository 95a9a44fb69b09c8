"""``python -m osler.api.cli``: how the embedded stack starts its own processes."""

import sys

from osler.api.cli.main import main

sys.exit(main())

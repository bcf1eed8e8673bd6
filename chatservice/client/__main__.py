"""``python -m chatservice.client``: the terminal client."""

import sys

from .app import main

if __name__ == "__main__":
    sys.exit(main())

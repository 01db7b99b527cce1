"""``python -m nodes.cli ...`` (from the pack folder)."""
import sys

from .main import main

sys.exit(main())

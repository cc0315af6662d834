import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

from helpers import cpu_capability  # noqa: E402,F401  (fixture available to every test)

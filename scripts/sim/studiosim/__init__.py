"""The ftrackfs studio simulator: a local stand-in for ftrack and accsyn.

Python 3 standard library only. See scripts/sim/README.md.
"""

import os

PKG_DIR = os.path.dirname(os.path.abspath(__file__))
DATA_DIR = os.path.join(os.path.dirname(PKG_DIR), "data")

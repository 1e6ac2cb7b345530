"""Makes the probe package importable for its tests the same way launchers do (PYTHONPATH)."""

import sys
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parents[2] / "sample-charts" / "images" / "mini-service"
if str(_PACKAGE_DIR) not in sys.path:
    sys.path.insert(0, str(_PACKAGE_DIR))

"""HOSTILE: exits with status 0 while being imported (exit 0 must never read as "proved")."""

import sys

sys.exit(0)

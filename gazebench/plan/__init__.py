"""From a request to units, from cards alone (no data read): suites, planning, joint training, cross-test entries, the launcher, reproductions.

This package imports nothing on import (its modules are imported by name)."""

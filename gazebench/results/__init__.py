"""What runs leave on disk: the unit (its id and paths), the typed record and its store, identity, fingerprint, population checks, checkpoints, the unit lock.

This package imports nothing on import (its modules are imported by name)."""

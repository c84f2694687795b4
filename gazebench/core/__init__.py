"""The lowest layer: errors, paths, the label geometry, the registries, options and the recipe, requests, atomic writes, progress, provenance; no torch.

This package imports nothing on import (its modules are imported by name)."""

"""One unit run: the runner, set-up (assemble), fit, the engine, schedules, augmentation, parallel and distributed work, tracking, the unit's record.

This package imports nothing on import (its modules are imported by name)."""

"""PyAV, the optional video decoder (``pip install "gazebench[video]"``), imported on demand.

Every module that reads or writes videos (``gazebench predict``, EYEDIAP's release, SynthGaze's
EYEDIAP writer) asks here, so a missing PyAV is the same one-line message everywhere."""

from __future__ import annotations

from typing import Any

from gazebench.core.options import ConfigError

VIDEO_EXTRA = 'pip install "gazebench[video]"'


def import_av(what: str = "videos") -> Any:
    """PyAV, or one line saying that ``what`` needs it and how to install it."""
    try:
        import av
    except ImportError as exc:
        raise ConfigError(f"{what} need PyAV, which is not installed: {VIDEO_EXTRA}") from exc
    return av

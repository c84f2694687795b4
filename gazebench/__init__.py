"""gazebench: train and compare appearance-based 3-D gaze estimators under fixed protocols."""

__version__ = "0.1.0"

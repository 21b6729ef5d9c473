"""upres: train, evaluate and run ESRGAN-family super-resolution models."""

__version__ = "0.1.0"

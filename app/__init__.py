"""TFSWA Studio: a desktop app and CLI for TFSWA-UNet music source separation."""

__version__ = "0.1.0"

"""Runnable examples: python -m deepcore.examples.<name>."""

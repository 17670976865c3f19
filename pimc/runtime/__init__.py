"""Runtimes: execute or simulate compiled programs."""

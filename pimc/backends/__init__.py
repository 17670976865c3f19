"""Backends: code emission for a device, discovered through the `pimc.backends` entry points."""

"""Frontends: ways into pimc IR."""

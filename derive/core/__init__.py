"""Shared base of every layer: the input-error type and exact number parsing/formatting."""

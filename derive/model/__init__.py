"""Spec -> model: the validated spec and the plain, already formatted tables for the templates.

Imports :mod:`derive.maths` and :mod:`derive.core`; never :mod:`derive.emit`.
"""

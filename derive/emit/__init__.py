"""Model -> files: Jinja2 rendering in memory, figures, and the one function that writes.

Templates do no maths; :mod:`derive.emit.writer` is the only code that writes files.
"""

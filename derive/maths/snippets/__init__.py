"""Source that is embedded verbatim into the generated initializer files.

Each module here is ordinary, tested, type-checked Python using the standard library only.
The part below the line ``# --- snippet ---`` is copied into every generated file that needs
it (``derive.model.tables.snippet_source``), so the emitted code and the tested code are the same.
"""

"""The only code that writes files: all-or-nothing replacement of ``generated/``."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def stale_files(files: dict[str, str], out_dir: Path) -> list[str]:
    """Names whose bytes on disk differ from ``files`` (missing files count as stale)."""
    stale = []
    for name in sorted(files):
        path = out_dir / name
        try:
            on_disk = path.read_bytes()
        except FileNotFoundError:
            stale.append(name)
            continue
        if on_disk != files[name].encode("utf-8"):
            stale.append(name)
    return stale


def write_files(files: dict[str, str], out_dir: Path) -> list[str]:
    """Write ``files`` into ``out_dir``, replacing only files whose bytes change.

    Every new text is first written to a temporary file inside ``out_dir`` (same
    filesystem); only when all temporaries exist are they moved into place with
    ``os.replace``.  Any failure before that removes the temporaries and leaves
    ``out_dir`` byte-identical; a failure among the moves restores the files already
    moved from their previous bytes.  Returns the names that changed.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    changed = stale_files(files, out_dir)
    staged: list[tuple[Path, Path]] = []
    try:
        for name in changed:
            final = out_dir / name
            final.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(
                prefix=f".{final.name}.", suffix=".tmp", dir=final.parent
            )
            staged.append((Path(tmp_name), final))
            with os.fdopen(fd, "wb") as fh:
                fh.write(files[name].encode("utf-8"))
            os.chmod(tmp_name, 0o644)
    except BaseException:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise
    previous = {final: final.read_bytes() if final.exists() else None for _, final in staged}
    replaced: list[Path] = []
    try:
        for tmp, final in staged:
            os.replace(tmp, final)
            replaced.append(final)
    except BaseException:
        # a failed move (permissions, a vanished directory): undo the ones already made
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        for final in replaced:
            old = previous[final]
            if old is None:
                final.unlink(missing_ok=True)
            else:
                final.write_bytes(old)
        raise
    return changed

"""Files in obsctl's cache folder (scan specs, compiled pattern databases): written whole or not at all."""

from __future__ import annotations

import os
from pathlib import Path


def write_atomically(path: Path, data: bytes) -> None:
    """Write `data` to a temporary file beside `path`, then rename it over `path`: a concurrent `obsctl scan` reads
    the old file or the new one, never half of one. Raises OSError (an unwritable cache folder)."""
    import tempfile  # only when a cache is written: a warm start never needs it (about 2 ms)

    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("wb", dir=path.parent, prefix=f".{path.stem}-", delete=False) as out:
        out.write(data)
    os.replace(out.name, path)

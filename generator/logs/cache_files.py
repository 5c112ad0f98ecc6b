"""Files in obsctl's cache folder (scan specs, compiled pattern databases): named by a digest of what made them,
written whole or not at all."""

from __future__ import annotations

import os
from pathlib import Path

try:  # hashlib's blake2b is this built-in module's; importing hashlib also loads OpenSSL (~2 ms of a scan's start)
    from _blake2 import blake2b
except ImportError:  # an interpreter built without it
    from hashlib import blake2b


def cache_digest(*parts: bytes) -> str:
    """A 32-hex-digit name for the cache file made from `parts` (each part's length is hashed too, so no two
    different part lists give the same stream)."""
    digest = blake2b(digest_size=16)
    for part in parts:
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def write_atomically(path: Path, data: bytes) -> None:
    """Write `data` to a temporary file beside `path`, then rename it over `path`: a concurrent `obsctl scan` reads
    the old file or the new one, never half of one. Raises OSError (an unwritable cache folder)."""
    import tempfile  # only when a cache is written: a warm start never needs it (about 2 ms)

    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("wb", dir=path.parent, prefix=f".{path.stem}-", delete=False) as out:
        out.write(data)
    os.replace(out.name, path)

"""Small readers for /proc and /sys files: absent or unreadable attributes read as None, never raise."""

from __future__ import annotations

import os
from pathlib import Path

READ_CHUNK_BYTES = 65536


def read_text(path: Path) -> str | None:
    """The file's text, or None when it is missing, unreadable (root-only DMI) or not a file.

    Kernel attributes vanish (hot-unplug), refuse reads (EINVAL on a down NIC's `speed`) or are
    root-only; each of those means "no value here", not a failed collection.
    """
    # os.open/os.read skip the buffered text layer: a collection reads ~100 tiny files and this
    # halves their cost (bench/collect.py).
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    chunks = []
    try:
        while chunk := os.read(fd, READ_CHUNK_BYTES):
            chunks.append(chunk)
    except OSError:
        return None
    finally:
        os.close(fd)
    return b"".join(chunks).decode("utf-8", errors="replace")


def read_line(path: Path) -> str | None:
    """The file's first line stripped, or None when unreadable or empty."""
    text = read_text(path)
    if text is None:
        return None
    # Firmware pads some DMI fields with NULs; the wire contract refuses U+0000 in text.
    line = text.replace("\x00", "").strip().split("\n", 1)[0].strip()
    return line or None


def read_int(path: Path) -> int | None:
    """The file's content as an integer (sysfs numbers), or None when unreadable or not a number."""
    line = read_line(path)
    if line is None:
        return None
    try:
        return int(line, 0) if line.startswith("0x") else int(line)
    except ValueError:
        return None


def list_dir(path: Path) -> list[str]:
    """Sorted entry names of a directory, or [] when it does not exist or cannot be listed."""
    try:
        return sorted(os.listdir(path))
    except OSError:
        return []

"""Safe extraction of ``.zip`` archives (the HCA matrix service's ``.mtx.zip``).

Refuses absolute paths, ``..`` segments, backslashes, NUL bytes, symlinks and
duplicate names; counts the bytes actually produced against the import's
budget and against each member's compressed size (header sizes are not
trusted: a member can never consume more than its compressed size).
"""

from __future__ import annotations

import shutil
import stat
import zipfile
from pathlib import Path, PurePosixPath

from ..errors import IngestError
from ..progress import Progress, null_progress
from ._streams import Budget, GuardedStream

MAX_MEMBERS = 10_000


def _member_path(info: zipfile.ZipInfo, *, archive: str) -> PurePosixPath:
    raw = info.filename
    if "\x00" in raw or "\\" in raw:
        raise IngestError(f"unsafe member name {raw!r} in the archive", field=archive)
    if raw.startswith("/") or (len(raw) > 1 and raw[1] == ":"):
        raise IngestError(f"absolute path {raw!r} in the archive", field=archive)
    parts = PurePosixPath(raw).parts
    if any(p == ".." for p in parts):
        raise IngestError(f"path {raw!r} leaves the archive's folder ('..')", field=archive)
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise IngestError(f"symbolic link {raw!r} in the archive", field=archive)
    return PurePosixPath(*[p for p in parts if p not in ("", ".")])


def extract_zip(
    archive: Path, dest: Path, *, budget: Budget, progress: Progress = null_progress
) -> Path:
    """Extract ``archive`` into the empty folder ``dest`` and return ``dest``.

    Raises :class:`IngestError` for an unsafe member, a bomb, a corrupt or
    truncated archive; ``dest`` may then hold a partial extraction (the caller's
    staging folder is discarded on error).
    """
    name = archive.name
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise IngestError(f"not a readable zip archive ({exc})", field=name) from exc
    archive_size = max(archive.stat().st_size, 1)
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_MEMBERS:
            raise IngestError(
                f"the archive holds {len(infos):,} members (at most {MAX_MEMBERS:,})", field=name
            )
        seen: set[PurePosixPath] = set()
        planned = [(info, _member_path(info, archive=name)) for info in infos]
        for _, rel in planned:
            if rel in seen:
                raise IngestError(f"duplicate member {str(rel)!r} in the archive", field=name)
            seen.add(rel)
        files = [(i, r) for i, r in planned if not i.is_dir() and r.parts]
        if not files:
            raise IngestError("the archive is empty", field=name)
        for k, (info, rel) in enumerate(files):
            target = dest.joinpath(*rel.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            member = f"{name}:{rel}"
            try:
                source = zf.open(info)
            except (zipfile.BadZipFile, NotImplementedError, RuntimeError) as exc:
                raise IngestError(f"cannot read member {str(rel)!r} ({exc})", field=name) from exc
            guarded = GuardedStream(
                source,
                name=member,
                budget=budget,
                gzip=False,
                # a member can never consume more than the archive holds, whatever its header says
                compressed_size=max(min(info.compress_size, archive_size), 1),
            )
            try:
                with guarded, open(target, "xb") as out:
                    shutil.copyfileobj(guarded, out, 1 << 20)
            except zipfile.BadZipFile as exc:
                raise IngestError(f"corrupt member {str(rel)!r} ({exc})", field=name) from exc
            progress((k + 1) / len(files), f"extracted {rel}")
    return dest


def single_top_folder(root: Path) -> Path:
    """Return the folder holding the extracted files: ``root`` or its single top folder."""
    entries = [p for p in root.iterdir() if not p.name.startswith(("__MACOSX", "."))]
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return root

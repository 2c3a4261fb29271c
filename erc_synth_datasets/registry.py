"""One registry helper: names mapped to objects or to lazy `"module:attribute"` entries, with did-you-mean errors.

As in lm-evaluation-harness, an entry given as `"package.module:Name"` is imported only when it is looked up, so an
optional heavy backend stays unimported until chosen. Benchmarks, generation backends, classifier architectures and
the console script's commands are all `Registry` objects.

Example:

```python
BACKENDS = Registry("backend", {"openai": "generation.backends.openai_backend:OpenAIBackend"}, error=BackendError)
BACKENDS.get("opnai")  # BackendError: Unknown backend 'opnai'. Did you mean 'openai'? Available: openai.
```
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Iterator, Sequence
from typing import Generic, TypeVar

from .errors import ErcSynthError

__all__ = ["Registry", "RegistryError", "did_you_mean"]

T = TypeVar("T")


class RegistryError(ErcSynthError, KeyError):
    """A name that is not registered (the message suggests close names and lists the available ones)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


def did_you_mean(name: str, choices: Sequence[str]) -> str:
    """`" Did you mean 'a' or 'b'?"` for the choices close to `name` (a case-insensitive match first), else `""`."""
    close = [choice for choice in choices if choice.lower() == name.lower() and choice != name]
    close = close or difflib.get_close_matches(name, list(choices), n=3, cutoff=0.5)
    return f" Did you mean {' or '.join(repr(choice) for choice in close)}?" if close else ""


class Registry(Generic[T]):
    """A mapping of names to objects, or to `"module:attribute"` strings imported on first look-up.

    Args:
        kind: What is registered, for messages (`"backend"`).
        entries: Initial entries, name -> object or `"module:attribute"`.
        error: The exception type raised for an unknown name (a subclass of `ErcSynthError` that takes a message).
        hint: A sentence appended to the unknown-name message, saying where the name is set.
        lazy: Treat string entries as `"module:attribute"` references (False registers strings as values).
    """

    def __init__(
        self,
        kind: str,
        entries: dict[str, T | str] | None = None,
        *,
        error: type[Exception] = RegistryError,
        hint: str = "",
        lazy: bool = True,
    ) -> None:
        self.kind = kind
        self.error = error
        self.hint = hint
        self.lazy = lazy
        self._entries: dict[str, T | str] = dict(entries or {})

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def names(self) -> list[str]:
        """The registered names, in registration order."""
        return list(self._entries)

    def register(self, name: str, entry: T | str, *, overwrite: bool = False) -> None:
        """Adds `name`; a different entry already under that name is refused unless `overwrite`."""
        if name in self._entries and not overwrite and self._entries[name] != entry:
            raise self.error(f"A different {self.kind} named {name!r} is already registered; choose another name.")
        self._entries[name] = entry

    def reference(self, name: str) -> T | str:
        """The entry as registered (a `"module:attribute"` string stays a string)."""
        self._check(name)
        return self._entries[name]

    def get(self, name: str) -> T:
        """The object registered under `name`, importing a lazy entry.

        Raises:
            The registry's error type: `name` is not registered (close names are suggested, all are listed).
        """
        entry = self.reference(name)
        if self.lazy and isinstance(entry, str):
            module_name, _, attribute = entry.partition(":")
            return getattr(importlib.import_module(module_name), attribute)
        return entry  # type: ignore[return-value]

    def unknown(self, name: str) -> Exception:
        """The error for an unregistered `name` (raise it)."""
        hint = f" {self.hint}" if self.hint else ""
        return self.error(
            f"Unknown {self.kind} {name!r}.{did_you_mean(name, self.names())} "
            f"Available: {', '.join(self.names())}.{hint}"
        )

    def _check(self, name: str) -> None:
        if name not in self._entries:
            raise self.unknown(name)

"""``Registry``: names -> things for one concept (activations, losses, optimizers).

[Note: one registry per concept] Every place that turns a name into a thing (``Dense(
activation="relu")``, ``compile(loss="mse", optimizer="adam")``, ``load_model``) and every
place that turns a thing back into its name (``get_config``, saving, the fused paths that ask
"is this activation a softmax?") asks the same table. A thing has one canonical name (Keras's)
and any number of aliases (PyTorch's, abbreviations); the reverse lookup gives the canonical
name of a registered thing however the user reached it (``"silu"``, ``F.silu``, ``F.swish``
are all ``"swish"``), so behaviour follows what a thing *is*, never which object was passed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Generic, TypeVar

__all__ = ["Registry"]

T = TypeVar("T")


class Registry(Generic[T]):
    """Canonical name -> thing, alias -> canonical name, thing -> canonical name."""

    def __init__(self, what: str) -> None:
        self.what = what  # "activation", "loss", ... (used in error messages)
        self._things: dict[str, T] = {}
        self._aliases: dict[str, str] = {}
        self._names: dict[Any, str] = {}

    def register(
        self,
        name: str,
        thing: T | None = None,
        aliases: Iterable[str] = (),
        equivalents: Iterable[Any] = (),
    ) -> Any:
        """Register ``thing`` under ``name`` (and ``aliases``); ``equivalents`` are other objects
        that stand for the same thing (a loss *function* for its Loss class): ``name_of`` gives
        ``name`` for them too. Without ``thing``, a decorator."""
        if thing is None:

            def deco(obj: T) -> T:
                self.register(name, obj, aliases, equivalents)
                return obj

            return deco
        for n in (name, *aliases):
            if n in self._things or n in self._aliases:
                raise ValueError(f"the {self.what} name {n!r} is registered twice")
        self._things[name] = thing
        for a in aliases:
            self._aliases[a] = name
        for obj in (thing, *equivalents):
            self._names.setdefault(obj, name)
        return thing

    def canonical(self, name: str) -> str | None:
        """The canonical name for ``name`` or one of its aliases (case-insensitive), else
        None."""
        for n in (name, name.lower()):
            if n in self._things:
                return n
            if n in self._aliases:
                return self._aliases[n]
        return None

    def get(self, name: str) -> T:
        """The thing registered under ``name`` (or an alias); ValueError listing the known
        names otherwise."""
        key = self.canonical(name) if isinstance(name, str) else None
        if key is None:
            raise ValueError(f"unknown {self.what} {name!r} (known: {', '.join(self.names())})")
        return self._things[key]

    def name_of(self, thing: Any) -> str | None:
        """The canonical name of a registered thing (None for anything else)."""
        try:
            return self._names.get(thing)
        except TypeError:  # unhashable: certainly not registered
            return None

    def names(self, aliases: bool = False) -> list[str]:
        """The canonical names (and, with ``aliases=True``, the aliases), sorted."""
        return sorted([*self._things, *(self._aliases if aliases else ())])

    def items(self) -> list[tuple[str, T]]:
        return list(self._things.items())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.canonical(name) is not None

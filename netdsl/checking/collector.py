"""The one diagnostics collector every pass of ``check`` reports into, in the order found."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping

from ..errors import NetdslError, Note
from ..vocab.components import Ref
from ..vocab.registry import Registry
from .bind import Binder

__all__ = ["Collector"]


class Collector:
    """The errors found so far (each pass appends; the binder too), which mistakes were already
    reported once, and the references bound once per check (``relu``, see ``Binder.refs``)."""

    __slots__ = ("_reported", "errors", "refs", "sources")

    def __init__(self) -> None:
        self.errors: list[NetdslError] = []
        #: the text of other files an error may be in (libraries, plugin blocks), by name
        self.sources: Mapping[str, str] = {}
        self._reported: set[Hashable] = set()
        self.refs: dict[tuple[str, str], Ref] = {}

    def error(self, err: NetdslError, notes: tuple[Note, ...] = ()) -> None:
        """Keep ``err``, with ``notes`` (where the walk is) added after its own."""
        err.__traceback__ = (
            None  # a caught error is kept: its frames would hold the check (a cycle)
        )
        if notes:
            err.notes = err.notes + notes
        self.errors.append(err)

    def extend(self, errors: Iterable[NetdslError]) -> None:
        self.errors.extend(errors)

    def first(self, mistake: Hashable) -> bool:
        """True the first time ``mistake`` is asked about: one report per check for a limit."""
        if mistake in self._reported:
            return False
        self._reported.add(mistake)
        return True

    def binder(self, registry: Registry, notes: tuple[Note, ...] = ()) -> Binder:
        """A binder that reports here and shares this check's bound references."""
        b = Binder(registry, notes)
        b.errors = self.errors
        b.refs = self.refs
        return b

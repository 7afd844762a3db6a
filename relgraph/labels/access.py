"""Who is asking: a labeler sees the projects and stages they are on, nothing else.

The REST service makes a :class:`Who` from the bearer token (its id and name; an
``admin`` token is a project admin everywhere). Python and CLI callers on the
workspace are trusted (``Who.local()``), as they can read the metadata DB anyway.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from relgraph.errors import AccessDenied


@dataclass(frozen=True)
class Who:
    """A caller: the names they go by (token id, token name) and whether they are admin."""

    names: frozenset[str]
    admin: bool = False
    display: str = ""

    @classmethod
    def local(cls, name: str = "local") -> Who:
        return cls(names=frozenset({name}), admin=True, display=name)

    @classmethod
    def of(cls, *names: str, admin: bool = False) -> Who:
        given = [n for n in names if n]
        return cls(names=frozenset(given), admin=admin, display=given[0] if given else "")

    @property
    def name(self) -> str:
        """The name recorded on a label: the first name given."""
        return self.display or (sorted(self.names)[0] if self.names else "anonymous")

    def on(self, members: Iterable[str]) -> bool:
        return self.admin or bool(self.names & set(members))


def denied(what: str) -> AccessDenied:
    # The same words whether or not the project exists: a stranger learns nothing.
    return AccessDenied(f"you are not on {what} (ask a project admin to add you)")

"""One error hierarchy for relgraph.

Every error a user can cause derives from :class:`RelgraphError`. The CLI maps
them to exit codes and the REST service to HTTP 4xx, using their fields; nothing
in relgraph ``assert``s on user input.
"""

from __future__ import annotations


class RelgraphError(Exception):
    """Root of every error relgraph raises on purpose."""

    exit_code: int = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SourceError(RelgraphError):
    """A source could not be opened or read (bad URL, malformed file, ...)."""

    exit_code = 3


class SchemaError(RelgraphError):
    """A schema (inferred or overridden) is inconsistent with the data."""

    exit_code = 4


class DataValidationError(RelgraphError):
    """The data cannot be used as it is (duplicate keys, bad timestamps, ...).

    ``table``, ``column`` and ``row`` point at the first offending value.
    """

    exit_code = 5

    def __init__(
        self,
        message: str,
        *,
        table: str | None = None,
        column: str | None = None,
        row: int | None = None,
    ) -> None:
        super().__init__(message)
        self.table = table
        self.column = column
        self.row = row


class StoreError(RelgraphError):
    """A workspace or snapshot is missing, corrupt, or cannot be written."""

    exit_code = 6


class QueryError(RelgraphError):
    """A predictive query is malformed or does not fit the schema.

    ``line`` and ``col`` are 1-based and point at the offending token; both are None
    for an error that belongs to no token (a bad cut-off date, an empty snapshot), so
    that no message claims a position it does not have.
    """

    exit_code = 7

    def __init__(
        self,
        message: str,
        *,
        line: int | None = None,
        col: int | None = None,
        query: str | None = None,
    ) -> None:
        self.line = line
        self.col = col
        self.query = query
        super().__init__(message if line is None else f"{message} at {line}:{col}")
        self.message = self.args[0]

    def pointer(self) -> str:
        """The offending query line with a caret under the token."""
        if self.query is None or self.line is None or self.col is None:
            return ""
        lines = self.query.splitlines() or [""]
        text = lines[min(self.line, len(lines)) - 1]
        return f"{text}\n{' ' * (self.col - 1)}^"


class GraphError(RelgraphError):
    """The record-level graph cannot be built or sampled."""

    exit_code = 8


class TrainingError(RelgraphError):
    """Training or prediction cannot proceed (no labels, bad config, ...)."""

    exit_code = 9


class JobError(RelgraphError):
    """A job cannot be created, run, cancelled or retried."""

    exit_code = 10


class JobParameterError(JobError):
    """A job's parameters are wrong (missing, mistyped, out of range, naming nothing).

    The REST service answers 422 for it at submission; other job errors are 409.
    """


class NotMaterializedError(RelgraphError):
    """A stage object was used before its ``materialize()``/``fit()`` step."""

    exit_code = 11


class AccessDenied(RelgraphError):
    """The service's policy refuses this (a source outside its roots, say): HTTP 403.

    The message is the same whether or not the thing asked for exists.
    """

    exit_code = 12


class LabelError(RelgraphError):
    """A label, label project or label set is wrong (outside the schema, unknown stage): 422."""

    exit_code = 13


class LabelConflict(LabelError):
    """Another labeler already saved this item (or this labeler did): HTTP 409, nothing lost."""

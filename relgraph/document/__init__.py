"""Column documentation: business terms for columns from their features and lineage.

``relgraph document`` profiles the columns of one or several snapshots, links them
(same table, foreign keys, lineage from files, views and SQL scripts), trains a
GraphSAGE on the columns a mapping already names, and suggests the top-2 terms,
with evidence, for every other column.
"""

from relgraph.document.columns import ColumnProfile, name_tokens, profile_snapshot
from relgraph.document.glossary import Term, read_glossary, read_mapping
from relgraph.document.graph import ColumnGraph, build_graph
from relgraph.document.lineage import (
    LineageEdge,
    LineageResult,
    lineage_from_sql,
    read_lineage_file,
    read_sql_scripts,
    read_views,
)
from relgraph.document.run import DocumentResult, document

__all__ = [
    "ColumnGraph",
    "ColumnProfile",
    "DocumentResult",
    "LineageEdge",
    "LineageResult",
    "Term",
    "build_graph",
    "document",
    "lineage_from_sql",
    "name_tokens",
    "profile_snapshot",
    "read_glossary",
    "read_lineage_file",
    "read_mapping",
    "read_sql_scripts",
    "read_views",
]

"""What an id of a stored thing (model, output, trunk) may look like.

Ids become folder names under the workspace, so they are checked before any
path is made from one: letters, digits, ``_``, ``-`` and ``.``, never ``..``
and never a leading dot (no traversal, no hidden files).
"""

from __future__ import annotations

import re

from relgraph.errors import StoreError

ID_PATTERN = re.compile(r"^[0-9A-Za-z_.-]{1,128}$")


def check_id(kind: str, value: str) -> None:
    if not ID_PATTERN.match(value) or value.startswith(".") or ".." in value:
        raise StoreError(f"invalid {kind} id '{value[:80]}': use letters, digits, '_', '-', '.'")

"""The REST service and web dashboard (``relgraph serve``)."""

from relgraph.service.app import create_app
from relgraph.service.auth import Role, TokenStore
from relgraph.service.runner import JobInfo, JobRunner, LocalJobRunner

__all__ = ["JobInfo", "JobRunner", "LocalJobRunner", "Role", "TokenStore", "create_app"]

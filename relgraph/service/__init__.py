"""The REST service and web dashboard (``relgraph serve``).

Run it::

    relgraph token create --role admin -w WORKSPACE      # prints the token once
    relgraph serve --workspace WORKSPACE --port 8000     # API docs at /docs, dashboard at /

Every ``/api/v1`` route needs ``Authorization: Bearer <token>``; viewers read,
editors also start jobs and change label sets, admins also manage tokens. Long work
(ingest, label statistics, train → predict → project, projections) runs as jobs
through a :class:`JobRunner`; requests only submit and read.
"""

from relgraph.service.app import create_app
from relgraph.service.auth import Role, TokenStore
from relgraph.service.runner import JobInfo, JobRunner, LocalJobRunner

__all__ = ["JobInfo", "JobRunner", "LocalJobRunner", "Role", "TokenStore", "create_app"]

"""The REST service and web dashboard (``relgraph serve``).

Run it::

    relgraph token create --role admin -w WORKSPACE      # prints the token once
    relgraph serve --workspace WORKSPACE --port 8000 --source-root DATA   # /docs, /

Every ``/api/v1`` route needs ``Authorization: Bearer <token>``; viewers read,
editors also start jobs and change label sets, admins also manage tokens and named
connections. Ingest jobs read only what :class:`~relgraph.service.policy.SourcePolicy`
admits (docs/security.md). Long work
(ingest, label statistics, train → predict → project, projections) runs as jobs
recorded in the workspace's metadata DB (the one ``relgraph run`` and ``relgraph jobs``
use) and run by the service's worker threads; requests only submit and read.
"""

from relgraph.service.app import create_app
from relgraph.service.auth import Role, TokenStore
from relgraph.service.runner import DBJobRunner, JobInfo, JobRunner

__all__ = ["DBJobRunner", "JobInfo", "JobRunner", "Role", "TokenStore", "create_app"]

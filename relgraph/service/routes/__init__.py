"""One router per REST resource; :func:`relgraph.service.app.create_app` mounts them."""

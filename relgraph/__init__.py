"""relgraph: predictions from relational data with graph learning."""

"""tierbot: pull-request review routed to a local or a frontier model by complexity."""

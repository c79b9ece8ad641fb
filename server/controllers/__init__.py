"""REST controllers: thin translation between HTTP and the services."""

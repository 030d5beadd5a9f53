"""The pages, one module per feature: auth, dashboard, explore, search, namespaces, teams, ..."""

"""The HTTP endpoints the registry and its clients call: the token service and the notification intake."""

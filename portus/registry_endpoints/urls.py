"""Routes of the endpoints the registry calls: the token service and the notification intake."""

from __future__ import annotations

from django.urls import path

from portus.registry_endpoints import views

urlpatterns = [
    path("v2/token", views.token, name="registry-token"),
    path("v2/webhooks/events", views.events, name="registry-events"),
]

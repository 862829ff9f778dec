"""Routes: / (write a note, read it back), /healthz and /readyz."""

from __future__ import annotations

from django.urls import path
from notes import views

urlpatterns = [
    path("", views.note),
    path("healthz", views.ok),
    path("readyz", views.ok),
]

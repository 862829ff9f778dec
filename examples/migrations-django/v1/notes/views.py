"""Release v1's code: every request writes a note in `body` and reads it back."""

from __future__ import annotations

import os

from django.http import HttpRequest, HttpResponse

from notes.models import Note

VERSION = os.environ.get("CHANGEOVER_VERSION", "v1")


def note(request: HttpRequest) -> HttpResponse:
    text = f"a note from {VERSION}"
    written = Note.objects.create(body=text)
    back = Note.objects.get(pk=written.pk).body
    if back != text:
        return HttpResponse(f"{VERSION}: read back {back!r}, wrote {text!r}\n", status=500)
    return HttpResponse(f"{VERSION} wrote note {written.pk} in body\n")


def ok(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok\n")

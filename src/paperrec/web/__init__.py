"""The reader's web app, served by ``paperrec serve`` beside the JSON API (see app.py)."""

from paperrec.web.app import accepts_forms, attach, create_app, reader_of

__all__ = ["accepts_forms", "attach", "create_app", "reader_of"]

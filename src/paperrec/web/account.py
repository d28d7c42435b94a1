"""A reader's own pages: the library (undo, import, export) and settings (digest, topics,
API keys: create, list with their last use, revoke).

Addressed as ``/u/NAME/...``: a reader sees and changes only their own; anyone else is
refused with a 403 and nothing is written.
"""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import Response

from paperrec.papers.sources.arxiv_api import fetch_ids
from paperrec.users.library import (
    MAX_IMPORT_BYTES,
    SHELVES,
    export_bibtex,
    export_records,
    import_papers,
    shelves,
    undo,
)
from paperrec.users.preferences import preferences, save_preferences
from paperrec.web.render import Refused, handler, page, read_form, redirect, threaded


def _own(request: Request, session) -> str:
    name = request.path_params["name"]
    if session.user is None:
        raise Refused(403, "sign in to see your library and settings", "Sign in first")
    if session.user != name:
        raise Refused(403, "this page belongs to another reader", "Not your account")
    return name


@handler
async def library(request: Request, context, session):
    name = _own(request, session)
    found = await threaded(shelves, context.runtime.store, name)
    return page(
        request, session, "library.html", shelves=found, names=SHELVES, user=name,
        message=request.query_params.get("done", ""), max_kb=MAX_IMPORT_BYTES // 1024,
    )  # fmt: skip


@handler
async def library_undo(request: Request, context, session):
    name = _own(request, session)
    form = await read_form(request, session)
    await threaded(undo, context.runtime.store, name, str(form.get("paper", "")))
    context.feed.refresh_soon(name)
    return redirect(f"/u/{name}/library?done=Vote+taken+back")


@handler
async def library_import(request: Request, context, session):
    name = _own(request, session)
    form = await read_form(request, session, max_bytes=MAX_IMPORT_BYTES + 16 * 1024)
    upload = form.get("file")
    ids = str(form.get("ids", "")).strip()
    if upload is not None and getattr(upload, "filename", ""):
        data = await upload.read()
        filename = upload.filename
    elif ids:
        data, filename = ids.encode("utf-8"), "arXiv ids"
    else:
        raise Refused(400, "choose a file or paste arXiv ids to import", "Nothing to import")
    done = await threaded(
        import_papers, context.runtime.store, name, filename, data,
        lambda ids: fetch_ids(ids, timeout=10, retries=0),
    )  # fmt: skip
    n = len(done.saved)
    return redirect(f"/u/{name}/library?done=Imported+{n}+paper{'s' if n != 1 else ''}")


@handler
async def library_export(request: Request, context, session):
    name = _own(request, session)
    kind = request.path_params["kind"]
    store = context.runtime.store
    if kind == "json":
        body = json.dumps(await threaded(export_records, store, name), indent=2)
        media = "application/json"
    elif kind == "bib":
        body, media = await threaded(export_bibtex, store, name), "application/x-bibtex"
    else:
        raise Refused(404, f"no export as {kind!r}; available: json, bib")
    disposition = f'attachment; filename="paperrec-{name}.{kind}"'
    return Response(body, media_type=media, headers={"content-disposition": disposition})


def _taxonomy(context):
    model = context.holder.predictor.topic_model
    return model.taxonomy if model is not None else None


async def _settings_page(request: Request, context, session, name: str, new_key=None):
    store = context.runtime.store
    prefs = await threaded(preferences, store, name)
    keys = await threaded(store.keys.of, name)
    return page(
        request, session, "settings.html", prefs=prefs, taxonomy=_taxonomy(context), user=name,
        keys=keys, new_key=new_key, message=request.query_params.get("done", ""),
    )  # fmt: skip


@handler
async def settings(request: Request, context, session):
    return await _settings_page(request, context, session, _own(request, session))


@handler
async def key_create(request: Request, context, session):
    """A new API key, shown on this page once (never put in a URL); only its hash is kept."""
    name = _own(request, session)
    await read_form(request, session)
    key = await threaded(context.runtime.store.keys.create, name)
    return await _settings_page(request, context, session, name, new_key=key)


@handler
async def key_revoke(request: Request, context, session):
    name = _own(request, session)
    form = await read_form(request, session)
    key_id = str(form.get("key", ""))
    if not key_id.isdigit():
        raise Refused(400, f"key {key_id!r} is not a key number; nothing was revoked")
    await threaded(context.runtime.store.keys.revoke, name, int(key_id))
    return redirect(f"/u/{name}/settings?done=Key+{key_id}+revoked")


@handler
async def settings_save(request: Request, context, session):
    name = _own(request, session)
    form = await read_form(request, session)
    taxonomy = _taxonomy(context)
    known = set(taxonomy.ids) if taxonomy is not None else set()
    await threaded(
        save_preferences, context.runtime.store, name, form, form.getlist("topics"), known
    )
    return redirect(f"/u/{name}/settings?done=Settings+saved")

"""``GET /``: a page for a person who opens the base URL in a browser.

Not a Labelbox path (the SDK never asks for ``/``), so it needs no key and
shows nothing secret: a configured ``--api-key`` appears as a placeholder.
The client line is the one the ``lbmock serve`` banner prints.
"""

from __future__ import annotations

from html import escape

from flask import Response, current_app

from mockserver.responses.common import backend, base_url

ANY_KEY = "any-non-empty-key"
CONFIGURED_KEY = "<your --api-key>"  # never the key itself: pages and banners end up in logs


def client_kwargs(base: str, api_key: str) -> dict[str, str]:
    """``labelbox.Client`` keyword arguments for a server at ``base``."""
    return {"api_key": api_key, "endpoint": f"{base}/graphql", "rest_endpoint": f"{base}/api/v1"}


def client_line(base: str, key_configured: bool) -> str:
    """The line to paste: ``labelbox.Client(api_key=..., endpoint=..., rest_endpoint=...)``."""
    kwargs = client_kwargs(base, CONFIGURED_KEY if key_configured else ANY_KEY)
    return "labelbox.Client(" + ", ".join(f'{name}="{value}"' for name, value in kwargs.items()) + ")"


def landing_page() -> Response:
    from mockserver.urls import ROUTES  # urls imports this module

    be, base = backend(), base_url()
    world = be.world
    pid = escape(world.project.id)
    seed = "" if world.seed is None else f"seed {escape(str(world.seed))}, "
    if current_app.config.get("LBMOCK_ADMIN", True):
        items = []
        for rule, _view, methods in ROUTES["admin"]:
            shown = escape(rule)
            link = f'<a href="{shown}">{shown}</a>' if "GET" in methods else f"<code>{shown}</code>"
            items.append(f"<li>{escape(' '.join(methods))} {link}</li>")
        admin = "<h2>Admin API</h2>\n<ul>\n" + "\n".join(items) + "\n</ul>"
    else:
        admin = ('<h2>Admin API</h2>\n<p>The admin API is disabled (<code>--no-admin</code>); '
                 '<a href="/_mock/health">/_mock/health</a> stays.</p>')
    body = f"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>lbmock: an offline Labelbox</title></head>
<body>
<h1>lbmock: an offline Labelbox</h1>
<p>Serving {seed}{len(world)} data rows in project <code>{pid}</code>.</p>
<h2>Connect the labelbox SDK</h2>
<pre>import labelbox
client = {escape(client_line(base, be.api_key is not None))}
project = client.get_project("{pid}")</pre>
{admin}
</body>
</html>
"""
    return Response(body, mimetype="text/html")  # Flask adds the utf-8 charset

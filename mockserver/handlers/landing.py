"""``GET /``: a page for a person who opens the base URL in a browser.

Not a Labelbox path (the SDK never asks for ``/``), so it needs no key and
shows nothing secret: a configured ``--api-key`` appears as a placeholder.
The client line is the one the ``lbmock serve`` banner prints.
"""

from __future__ import annotations

from html import escape

from flask import Response, current_app, url_for

from lbmock.mockserver.handlers.common import backend, base_url

ANY_KEY = "any-non-empty-key"
CONFIGURED_KEY = "<your --api-key>"  # never the key itself: pages and banners end up in logs


def client_kwargs(base: str, api_key: str) -> dict[str, str]:
    """``labelbox.Client`` keyword arguments for a server at ``base``."""
    return {"api_key": api_key, "endpoint": f"{base}/graphql", "rest_endpoint": f"{base}/api/v1"}


def client_line(base: str, key_configured: bool) -> str:
    """The line to paste: ``labelbox.Client(api_key=..., endpoint=..., rest_endpoint=...)``."""
    kwargs = client_kwargs(base, CONFIGURED_KEY if key_configured else ANY_KEY)
    return "labelbox.Client(" + ", ".join(f'{name}="{value}"' for name, value in kwargs.items()) + ")"


def _world_ids(world) -> str:
    """Every project, dataset and slice id: what ``get_project``, ``get_dataset`` and
    ``get_catalog_slice`` need (the serve banner prints the same)."""
    sections = (("Projects", [(p.id, p.name) for p in world.projects]),
                ("Datasets", [(d.id, d.name) for d in world.datasets]),
                ("Slices", [(s.id, s.name) for s in world.slices]))
    parts = ["<h2>Ids</h2>"]
    for title, entries in sections:
        if entries:
            items = "".join(f"<li><code>{escape(i)}</code> {escape(name)}</li>" for i, name in entries)
            parts.append(f"<p>{title}</p>\n<ul>{items}</ul>")
    return "\n".join(parts)


def landing_page() -> Response:
    be, base = backend(), base_url()
    world = be.world
    pid = escape(world.project.id)
    seed = "" if world.seed is None else f"seed {escape(str(world.seed))}, "
    items = []
    for rule in current_app.url_map.iter_rules():  # the admin routes this app really serves
        if rule.endpoint.startswith("admin."):
            methods = [m for m in ("GET", "POST", "DELETE") if m in (rule.methods or ())]
            shown = escape(rule.rule)
            linked = "GET" in methods and not rule.arguments  # a rule with <parts> is no address to follow
            link = f'<a href="{shown}">{shown}</a>' if linked else f"<code>{shown}</code>"
            items.append(f"<li>{escape(' '.join(methods))} {link}</li>")
    ids = _world_ids(world)
    disabled = "" if be.config.admin else "<p>The admin API is disabled (<code>--no-admin</code>); health stays.</p>\n"
    dashboard = ""
    if be.config.admin:  # the dashboard's blueprint is registered exactly then
        shown = escape(url_for("dashboard.overview"))
        dashboard = f'<h2>Dashboard</h2>\n<p><a href="{shown}">{shown}</a>: the world, its rows and their images</p>\n'
    admin = dashboard + "<h2>Admin API</h2>\n" + disabled + "<ul>\n" + "\n".join(items) + "\n</ul>"
    body = f"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>lbmock: an offline Labelbox</title></head>
<body>
<h1>lbmock: an offline Labelbox</h1>
<p>Serving {seed}{len(world)} data rows in project <code>{pid}</code>.</p>
<h2>Connect the labelbox SDK</h2>
<pre>import labelbox
client = {escape(client_line(base, be.config.api_key is not None))}
project = client.get_project("{pid}")</pre>
{ids}
{admin}
</body>
</html>
"""
    return Response(body, mimetype="text/html")  # Flask adds the utf-8 charset

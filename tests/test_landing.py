"""GET / shows a person the project, the client line to paste and the admin endpoints."""

from __future__ import annotations

import re
import urllib.request
from html.parser import HTMLParser

import mocks
import pytest

from lbmock.mockserver.cli import _banner

SECRET = "s3cret-key-of-the-operator"
ODD_ID = '<b onmouseover="x">&id</b>'  # --project-id is free text: it must not become markup


class _Page(HTMLParser):
    """The page's visible text and its links."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.text, self.links, self.tags = "", [], []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.links += [value for name, value in attrs if tag == "a" and name == "href"]

    def handle_data(self, data):
        self.text += data


def _served(*argv: str):
    """The parsed arguments of ``lbmock serve ARGV`` and the app it builds from them."""
    return mocks.serve_app("--rows", "3", *argv)


def test_serve_landing_page_has_the_banners_client_line_and_the_admin_links(capsys):
    args, app = _served("--api-key", SECRET, "--project-id", ODD_ID)
    client = app.test_client()
    response = client.get("/", base_url="http://127.0.0.1:8080")  # no key: the page is not an API call
    assert response.status_code == 200 and response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    page = _Page(html)
    assert SECRET not in html  # a placeholder stands for the configured key
    assert ODD_ID in page.text and 'onmouseover="x"' not in html  # shown as text, never as markup
    assert set(page.tags) == {"html", "head", "meta", "title", "body", "h1", "h2", "p", "pre", "code", "ul", "li", "a"}
    _banner(args, "http://127.0.0.1:8080", app.extensions["lbmock"].world, 3)
    banner_line = re.search(r"lbmock: client = (.*)", capsys.readouterr().out).group(1)
    assert SECRET not in banner_line and banner_line in page.text  # the same line in both places
    assert page.links == ["/_mock/dashboard/", "/_mock/health", "/_mock/faults", "/_mock/journal", "/_mock/stubs",
                          "/_mock/state-manager/get-transition"]
    for link in page.links:  # each link answers a browser's GET
        assert client.get(link).status_code == 200, link
    assert app.extensions["lbmock"].journal.entries() == []  # the SDK-visible journal never sees the page


def test_without_admin_the_page_says_so_and_links_only_health():
    _, app = _served("--no-admin")
    client = app.test_client()
    page = _Page(client.get("/").get_data(as_text=True))
    assert "admin API is disabled" in page.text and "--no-admin" in page.text
    assert page.links == ["/_mock/health"]
    assert 'api_key="any-non-empty-key"' in page.text  # no key configured: any key works
    assert client.get("/_mock/faults").status_code == 404


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_only_get_is_served_at_the_root(method):
    _, app = _served()
    response = app.test_client().open("/", method=method)
    assert response.status_code == 405 and response.is_json


@pytest.mark.lb_world(seed=1, rows=2)
def test_threaded_server_serves_the_page_over_http(lb_server):
    base = lb_server.base_url
    with urllib.request.urlopen(f"{base}/", timeout=10) as response:
        assert response.status == 200 and response.headers.get_content_type() == "text/html"
        text = _Page(response.read().decode()).text
    assert lb_server.project_id in text
    assert f'endpoint="{base}/graphql", rest_endpoint="{base}/api/v1"' in text


def test_page_lists_every_project_dataset_and_slice_id():
    _, app = _served("--projects", "2", "--project-id", ODD_ID)
    world = app.extensions["lbmock"].world
    text = _Page(app.test_client().get("/").get_data(as_text=True)).text
    wanted = [p.id for p in world.projects] + [d.id for d in world.datasets] + [s.id for s in world.slices]
    assert len(world.projects) == 2 and world.datasets and world.slices
    for entity_id in wanted:  # the ids get_project / get_dataset / get_catalog_slice need
        assert entity_id in text, entity_id

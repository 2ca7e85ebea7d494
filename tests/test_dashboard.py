"""The dashboard under /_mock/dashboard/: its pages answer with the world's facts, escape what
they show, and disappear with --no-admin (Flask test client; images decoded by Pillow)."""

from __future__ import annotations

from dataclasses import replace
from html.parser import HTMLParser

import pytest

from lbmock.cli import build_parser
from lbmock.world import World
from lbmock.world_spec import WorldSpec, world_spec_from_args
from mockserver.app import create_app
from mockserver.cli import _banner, _server_config
from mockserver.config import ServerConfig
from mockserver.dashboard import NAV
from strategies.served_world import SeededRows, seeded_world

HOSTILE = '<img src=x onerror="alert(1)">&amp;'  # shown as text, never as markup


VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class Page(HTMLParser):
    """A page's visible text, links, its elements (tag, attributes) and each element's text
    (``texts[i]`` for ``elements[i]``)."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.text, self.links, self.elements, self.texts = "", [], [], []
        self._open: list[tuple[str, int]] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))
        self.texts.append("")
        if tag == "a" and "href" in dict(attrs):
            self.links.append(dict(attrs)["href"])
        if tag not in VOID:
            self._open.append((tag, len(self.elements) - 1))

    def handle_endtag(self, tag):
        while self._open:
            if self._open.pop()[0] == tag:
                break

    def handle_data(self, data):
        self.text += data
        for _tag, i in self._open:
            self.texts[i] += data

    def find(self, **attrs: str) -> list[tuple[str, dict, str]]:
        """Elements whose attributes include ``attrs`` (``data_x`` for ``data-x``): (tag, attributes, text)."""
        wanted = {k.replace("_", "-"): v for k, v in attrs.items()}
        return [(tag, a, self.texts[i]) for i, (tag, a) in enumerate(self.elements)
                if all(a.get(k) == v for k, v in wanted.items())]

    def text_of(self, **attrs: str) -> str:
        (found,) = self.find(**attrs)
        return found[2].strip()


def _app(world_or_spec: World | WorldSpec, **config) -> object:
    return create_app(world_or_spec, ServerConfig(**config))


def _get_page(client, url: str) -> Page:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code, response.get_data(as_text=True)[:500])
    assert response.mimetype == "text/html"
    return Page(response.get_data(as_text=True))


def hostile_world(rows: int = 20) -> World:
    """A world whose project id, names, tools and datasets are markup."""
    base = seeded_world(3, 0)
    project = base.project
    tools = tuple(replace(t, name=f"{HOSTILE} {t.name}") for t in project.ontology.tools)
    datasets = tuple(replace(d, name=f"{HOSTILE} {d.name}") for d in project.datasets)
    project = replace(project, id=HOSTILE, name=HOSTILE, datasets=datasets,
                      ontology=replace(project.ontology, tools=tools))
    return World(project, SeededRows(project, 3, rows), seed=3, slices=tuple(
        replace(s, name=HOSTILE) for s in base.slices))


def test_overview_shows_the_world():
    world = seeded_world(1, 40, quality="consensus", n_projects=2, dicom_variants=["oblique"])
    client = _app(world).test_client()
    page = _get_page(client, "/_mock/dashboard/")
    for fact, value in (("seed", "1"), ("rows", "40"), ("quality", "consensus"), ("dicom-variants", "oblique")):
        assert page.text_of(data_fact=fact) == value
    for entity in (*world.projects, *world.datasets, *world.slices):
        assert entity.id in page.text and entity.name in page.text
    for tool in world.project.ontology.tools:
        assert tool.name in page.text


def test_mock_root_redirects_to_the_dashboard_and_nav_links_answer():
    client = _app(WorldSpec(seed=1, rows=3)).test_client()
    response = client.get("/_mock/")
    assert response.status_code in (302, 303) and response.headers["Location"].endswith("/_mock/dashboard/")
    page = _get_page(client, "/_mock/dashboard/")
    nav_links = [attrs["href"] for tag, attrs in page.elements if tag == "a" and "href" in attrs][1:len(NAV) + 1]
    assert len(nav_links) == len(NAV)
    for link in nav_links:
        _get_page(client, link)
    for tag, attrs in page.elements:  # the CSS and JS ship with the package (no CDN)
        url = attrs.get("href") if tag == "link" else attrs.get("src") if tag == "script" else None
        if url:
            assert url.startswith("/_mock/dashboard/static/")
            assert client.get(url).status_code == 200


def test_no_admin_removes_the_dashboard():
    client = _app(WorldSpec(seed=1, rows=3), admin=False).test_client()
    for url in ("/_mock/", "/_mock/dashboard/", "/_mock/dashboard/static/dashboard.css"):
        assert client.get(url).status_code == 404, url
    assert client.get("/_mock/health").status_code == 200
    assert "/_mock/dashboard/" not in client.get("/").get_data(as_text=True)


def test_hostile_names_are_text_not_markup():
    client = _app(hostile_world()).test_client()
    response = client.get("/_mock/dashboard/")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<img" not in html and 'onerror="' not in html
    assert HOSTILE in Page(html).text


def test_landing_page_and_banner_point_at_the_dashboard(capsys):
    args = build_parser().parse_args(["serve", "--rows", "3"])
    app = create_app(world_spec_from_args(args), _server_config(args, b"k" * 32, None))
    page = Page(app.test_client().get("/").get_data(as_text=True))
    assert "/_mock/dashboard/" in page.links
    _banner(args, "http://127.0.0.1:8080", app.extensions["lbmock"].world, 3)
    assert "lbmock: dashboard http://127.0.0.1:8080/_mock/dashboard/" in capsys.readouterr().out
    quiet = build_parser().parse_args(["serve", "--rows", "3", "--no-admin"])
    _banner(quiet, "http://127.0.0.1:8080", app.extensions["lbmock"].world, 3)
    assert "dashboard" not in capsys.readouterr().out


@pytest.mark.parametrize("url", ["/_mock/dashboard/nothing-here", "/_mock/dashboard/static/none.css"])
def test_unknown_dashboard_urls_are_404(url):
    assert _app(WorldSpec(seed=1, rows=3)).test_client().get(url).status_code == 404

"""A client directory served by a BFF (tailor.static): hashed names, rewritten references,
conditional and compressed answers, the page's policy, and what stops startup."""

from __future__ import annotations

import re
from pathlib import Path

import brotli
import pytest

from tailor import BFF, Json, Request, build_config, json_response
from tailor.errors import ConfigError
from tailor.http import Response
from tailor.static import DEFAULT_CSP, IMMUTABLE, StaticSite
from tailor.testing import call

BIG_JS = "export const words = [" + ", ".join(f'"word{i}"' for i in range(400)) + "];\n"


def client(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


PAGE = '<link rel="stylesheet" href="app.css"><script type="module" src="./app.js"></script>'


@pytest.fixture
def site_dir(tmp_path: Path) -> Path:
    return client(
        tmp_path,
        {
            "index.html": PAGE,
            "app.js": 'import { words } from "./lib/words.js";\nconsole.log(words);\n',
            "lib/words.js": BIG_JS,
            "app.css": 'body { background: url("img/dot.svg"); }',
            "img/dot.svg": '<svg xmlns="http://www.w3.org/2000/svg"></svg>',
        },
    )


def bff_with(site: StaticSite) -> BFF:
    bff = BFF(build_config({"name": "web"}))
    bff.add_stage(site, before="route")

    @bff.get("/api/ping", auth=False)
    async def ping(request: Request) -> Json[dict[str, bool]]:
        return json_response({"ok": True})

    return bff


def test_every_file_but_the_page_is_named_by_its_content(site_dir: Path) -> None:
    manifest = StaticSite(site_dir).manifest
    assert manifest["index.html"] == "/"
    assert re.fullmatch(r"/assets/lib/words\.[0-9a-f]{12}\.js", manifest["lib/words.js"])
    assert re.fullmatch(r"/assets/img/dot\.[0-9a-f]{12}\.svg", manifest["img/dot.svg"])


def test_references_in_html_js_and_css_are_rewritten_to_the_hashed_names(site_dir: Path) -> None:
    site = StaticSite(site_dir)
    m = site.manifest
    page = site.asset("/").body.decode()
    assert f'href="{m["app.css"]}"' in page and f'src="{m["app.js"]}"' in page
    assert f'from "{m["lib/words.js"]}"' in site.asset(m["app.js"]).body.decode()
    assert f'url("{m["img/dot.svg"]}")' in site.asset(m["app.css"]).body.decode()


def test_a_change_in_an_imported_module_renames_the_modules_that_import_it(
    site_dir: Path,
) -> None:
    before = StaticSite(site_dir).manifest
    (site_dir / "lib" / "words.js").write_text(BIG_JS + "export const more = 1;\n")
    after = StaticSite(site_dir).manifest
    assert after["lib/words.js"] != before["lib/words.js"]
    assert after["app.js"] != before["app.js"]  # it names the new words.js
    assert after["app.css"] == before["app.css"]  # unrelated: still cached


def test_a_reference_to_a_missing_file_stops_startup_naming_it(tmp_path: Path) -> None:
    client(tmp_path, {"index.html": PAGE, "app.css": "", "app.js": 'import "./gone.js";'})
    with pytest.raises(ConfigError, match=r"app\.js refers to './gone\.js'"):
        StaticSite(tmp_path)


def test_a_cycle_of_imports_stops_startup_naming_it(tmp_path: Path) -> None:
    client(
        tmp_path,
        {
            "index.html": PAGE,
            "app.css": "",
            "app.js": 'import "./a.js";',
            "a.js": 'import "./app.js";',
        },
    )
    with pytest.raises(ConfigError, match=r"cycle of references: a\.js -> app\.js -> a\.js"):
        StaticSite(tmp_path)


def test_a_directory_without_the_page_stops_startup(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"static\.directory"):
        StaticSite(tmp_path)


def test_an_unknown_coding_stops_startup_naming_it(site_dir: Path) -> None:
    with pytest.raises(ConfigError, match=r"static\.codings.*deflate"):
        StaticSite(site_dir, codings=("deflate",))


def test_other_origins_and_fragments_are_left_alone(tmp_path: Path) -> None:
    page = (
        '<a href="#main">skip</a><a href="/api/openapi.json">api</a><a href="https://x.test/">x</a>'
    )
    site = StaticSite(client(tmp_path, {"index.html": page}))
    assert site.asset("/").body.decode() == page


async def test_the_page_is_revalidated_and_carries_the_content_security_policy(
    site_dir: Path,
) -> None:
    response = await call(bff_with(StaticSite(site_dir)), "GET", "/")
    assert response.status == 200
    assert response.header("cache-control") == "no-cache"
    assert response.header("content-security-policy") == DEFAULT_CSP
    assert response.header("x-content-type-options") == "nosniff"
    assert response.header("content-type") == "text/html; charset=utf-8"


async def test_an_asset_is_cached_for_a_year_as_immutable(site_dir: Path) -> None:
    site = StaticSite(site_dir)
    response = await call(bff_with(site), "GET", site.manifest["app.js"])
    assert response.status == 200
    assert response.header("cache-control") == IMMUTABLE
    assert response.header("content-type") == "text/javascript; charset=utf-8"


async def test_a_matching_if_none_match_gets_a_304_without_a_body(site_dir: Path) -> None:
    bff = bff_with(StaticSite(site_dir))
    etag = (await call(bff, "GET", "/")).header("etag")
    assert etag is not None
    response = await call(bff, "GET", "/", headers={"if-none-match": etag})
    assert response.status == 304 and response.body == b""
    assert response.header("etag") == etag


async def test_an_accepted_coding_gets_the_precompressed_body_with_its_own_etag(
    site_dir: Path,
) -> None:
    site = StaticSite(site_dir)
    bff = bff_with(site)
    path = site.manifest["lib/words.js"]
    plain = await call(bff, "GET", path)
    compressed = await call(bff, "GET", path, headers={"accept-encoding": "gzip, br"})
    assert compressed.header("content-encoding") == "br"
    assert brotli.decompress(compressed.body) == plain.body
    assert compressed.header("etag") != plain.header("etag")
    assert compressed.header("vary") == "accept-encoding"


async def test_a_body_that_compression_would_not_shrink_is_served_as_is(tmp_path: Path) -> None:
    site = StaticSite(client(tmp_path, {"index.html": "<p>hi</p>"}))
    response = await call(bff_with(site), "GET", "/", headers={"accept-encoding": "br"})
    assert response.header("content-encoding") is None and response.body == b"<p>hi</p>"


async def test_the_api_and_other_methods_go_on_down_the_chain(site_dir: Path) -> None:
    bff = bff_with(StaticSite(site_dir))
    api: Response = await call(bff, "GET", "/api/ping")
    assert api.status == 200 and api.body == b'{"ok":true}'
    post = await call(bff, "POST", "/", body=b"")
    assert post.status == 404  # no route: the stage does not answer a POST


async def test_an_unknown_asset_name_is_a_404_problem(site_dir: Path) -> None:
    response = await call(bff_with(StaticSite(site_dir)), "GET", "/assets/app.000000000000.js")
    assert response.status == 404
    assert response.header("content-type") == "application/problem+json"


async def test_a_head_gets_the_headers_of_the_get(site_dir: Path) -> None:
    bff = bff_with(StaticSite(site_dir))
    get = await call(bff, "GET", "/")
    head = await call(bff, "HEAD", "/")
    same = [h for h in get.headers if h[0] != "x-request-id"]
    assert head.status == 200 and [h for h in head.headers if h[0] != "x-request-id"] == same


async def test_the_files_are_counted_under_one_route_label(site_dir: Path) -> None:
    site = StaticSite(site_dir)
    bff = bff_with(site)
    for path in ("/", site.manifest["app.js"], site.manifest["app.css"]):
        await call(bff, "GET", path)
    routes = {route for route, _, _ in bff.metrics.requests.known}
    assert routes == {"(static)"}

"""Browser tests: Debian's Chromium, driven by Playwright, on the real pages and the real API handler.

The deployment is the workflow tests' Smart Door on moto (`door`: tables, bucket, topic, bus,
secret, the seven task Lambdas in-process, both state machines). The API Lambda is registered in
the same in-process runtime, with its own environment, and the local server sends it API
Gateway proxy events. The browser is phone-sized; it may talk to 127.0.0.1 only, except for the
owner page's presigned S3 photo links, which the test answers from moto's S3 after checking that
they are signed and short-lived. Screenshots land in tests/artifacts/e2e/.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import boto3
import pytest

from smartdoor.adapters.aws import reset_clients
from smartdoor_local.emulation.overrides import site_overrides
from smartdoor_local.http_server import API_FUNCTION_NAME, LocalServer, smartdoor_api_routes, via_runtime
from smartdoor_local.lambda_runtime import LocalFunction
from tests.workflows.conftest import (  # noqa: F401 - fixtures reused from the workflow tests
    DOOR_ID,
    SmartDoorOnMoto,
    approval_timeout_seconds,
    door,
)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 390, "height": 844}
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts" / "e2e"
S3_URL = re.compile(r"^https://(?P<bucket>[a-z0-9.-]+)\.s3(\.[a-z0-9-]+)?\.amazonaws\.com/(?P<key>[^?]+)")
MAX_PHOTO_LINK_SECONDS = 300


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.e2e)
            if not CHROMIUM.exists():
                item.add_marker(pytest.mark.skip(reason=f"browser tests need Chromium at {CHROMIUM}"))


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    # Fresh screenshots each run, so a stale picture never passes for a new one.
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class Site:
    """The local server in front of the door deployment, and what the browser fetched from S3."""

    server: LocalServer
    door: SmartDoorOnMoto
    photo_requests: list[str] = field(default_factory=list)
    blocked_requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    api_down: bool = False  # the browser's API requests fail as if the phone were offline

    @property
    def url(self) -> str:
        return self.server.url

    def owner_link(self, approval_id: str) -> str:
        return f"{self.url}/owner/?a={approval_id}"

    def door_page(self) -> str:
        return f"{self.url}/door/?door={DOOR_ID}"


@pytest.fixture
def site(door: SmartDoorOnMoto) -> Iterator[Site]:  # noqa: F811 - the imported fixture
    server = LocalServer(site_config={"doorId": DOOR_ID}).start()
    # The API as the template has it, its pages' origin the local server's (the browser's CORS).
    api = door.model.function(API_FUNCTION_NAME)
    door.runtime.register(
        LocalFunction(
            name=API_FUNCTION_NAME,
            handler=api.handler,
            environment=door.deployer.environment(api, site_overrides(server.url)),
        )
    )
    for route in smartdoor_api_routes(via_runtime(door.runtime, API_FUNCTION_NAME)):
        server.add_api_route(route)
    try:
        yield Site(server=server, door=door)
    finally:
        server.stop()
        reset_clients()


@pytest.fixture
def open_phone(browser: Any, site: Site) -> Iterator[Callable[[], Any]]:
    """Opens a phone-sized page (its own browser context, like another device) that can reach the
    local server and, through the test, signed S3 photo links; nothing else."""
    s3 = boto3.client("s3")
    contexts: list[Any] = []

    def route(route: Any) -> None:
        url = route.request.url
        if url.startswith(site.url + "/"):
            path = urlsplit(url).path
            if site.api_down and path.startswith(("/approvals/", "/doors/")):
                route.abort("internetdisconnected")
            else:
                route.continue_()
            return
        photo = S3_URL.match(url)
        query = parse_qs(urlsplit(url).query)
        if photo and "X-Amz-Signature" in query:
            lifetime = int(query["X-Amz-Expires"][0])
            assert 0 < lifetime <= MAX_PHOTO_LINK_SECONDS, f"photo link valid for {lifetime}s"
            site.photo_requests.append(url)
            body = s3.get_object(Bucket=photo["bucket"], Key=unquote(photo["key"]))["Body"].read()
            route.fulfill(status=200, body=body, headers={"Content-Type": "image/jpeg"})
            return
        site.blocked_requests.append(url)
        route.abort()

    def open_page() -> Any:
        context = browser.new_context(
            viewport=PHONE,
            device_scale_factor=2,
            is_mobile=True,
            has_touch=True,
            locale="en-US",
            timezone_id="UTC",
        )
        contexts.append(context)
        context.route("**/*", route)
        page = context.new_page()
        errors = site.console_errors
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(str(error)))
        return page

    try:
        yield open_page
    finally:
        for context in contexts:
            context.close()


def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True, animations="disabled", caret="initial")
    return path

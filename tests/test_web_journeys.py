"""The web interface in a real browser (Debian's Chromium through Playwright), on a live Portus,
a real docker-registry, skopeo and the background worker running as its own process.

The journey: the first admin signs up and adds the registry; creates a team and adds a member as
contributor; the member creates namespaces; images pushed with skopeo show up on the repository
page; star; comment; delete a tag; an anonymous visitor finds the public image on Explore and
cannot see the private one. Screenshots of the main pages go to build/screenshots/ (ignored by git);
`scripts/screenshots` runs this file and copies them into docs/screenshots/.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from portus.registry.distribution_config import render_distribution_config
from portus.registry.models import Registry
from tests.conftest import PASSWORD, make_world
from tests.support.background import ROOT, start_worker, worker_env
from tests.support.browser import launched_chromium, new_page, shot
from tests.support.images import make_image
from tests.support.registry import free_port, running_registry, skopeo
from tests.support.web import add_repository

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

# Events go registry -> Portus -> worker; polling the page with this deadline, never a fixed sleep.
DEADLINE_SECONDS = 60


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with launched_chromium(monkeypatch) as chromium:
        yield chromium


def poll_page(page: Any, done: Any, what: str) -> None:
    """Reload PAGE until DONE(page) holds; fail after the deadline with what was awaited."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not done(page):
        if time.monotonic() > deadline:
            main = page.inner_text("main")[:3000]
            raise AssertionError(f"{what}: not seen within {DEADLINE_SECONDS} s on {page.url}:\n{main}")
        page.wait_for_timeout(250)
        page.reload()


def sign_up(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/signup/")
    page.fill("#id_username", username)
    page.fill("#id_email", f"{username}@example.com")
    page.fill("#id_password1", PASSWORD)
    page.fill("#id_password2", PASSWORD)
    page.click("button[type=submit]:has-text('Create account')")


def tag_link(page: Any, name: str) -> Any:
    return page.locator("#tags").get_by_role("link", name=name, exact=True)


def push(tmp: Path, hostname: str, user: str, repository: str, tag: str) -> None:
    image = make_image(
        tmp / f"img-{repository.replace('/', '_')}-{tag}",
        tag=tag,
        files={"app.txt": f"{repository}:{tag}\n".encode()},
    )
    done = skopeo(
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        f"{user}:{PASSWORD}",
        image.reference,
        f"docker://{hostname}/{repository}:{tag}",
    )
    assert done.returncode == 0, done.stderr


def test_admin_member_and_visitor_journey(
    browser: Any, live_server: Any, transactional_db: None, tmp_path: Path, portus_config: Any
) -> None:
    portus_config("delete.enabled", True)  # the owner (and admin) may delete tags; the registry allows it
    portus_config("gravatar.enabled", False)  # no internet here: initials instead of blank pictures
    base = live_server.url
    hostname = f"127.0.0.1:{free_port()}"
    # The registry's configuration is what `portusctl registry config` writes for this host, so it
    # can run before Portus knows of it; the test checks below that portusctl writes the same file,
    # but for the notification secret, which Portus generates when the registry is added: the registry
    # then restarts with portusctl's file, as an administrator would.
    unsaved = Registry(name="local", hostname=hostname)
    placeholder = unsaved.new_notification_secret()
    config = render_distribution_config(unsaved, portus_url=base, storage_dir=tmp_path / "storage")
    with running_registry(config, hostname, tmp_path / "registry-first-run"):
        admin = new_page(browser)

        # 1. The first user signs up, becomes admin and is led to add the registry.
        sign_up(admin, base, "boss")
        admin.wait_for_url(f"{base}/setup/")
        assert "Welcome to Portus" in admin.content()
        admin.fill("#id_name", "local")
        admin.fill("#id_hostname", hostname)
        shot(admin, "first-run")
        admin.click("button:has-text('Check and add')")
        admin.wait_for_url(f"{base}/")
        # The reachability check talked to the real registry.
        assert "answered 401" in admin.content()
        # The test body runs in Playwright's greenlet, where the ORM would open a connection that
        # nobody closes; portusctl runs as its own process, the way an administrator runs it.
        written = subprocess.run(
            [
                sys.executable,
                "-m",
                "portus.cli",
                "registry",
                "config",
                "--portus-url",
                base,
                "--storage",
                str(tmp_path / "storage"),
                "-o",
                str(tmp_path / "portusctl.yml"),
            ],
            env=worker_env(PORTUS_DELETE_ENABLED="true"),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert written.returncode == 0, written.stderr
    configured = (tmp_path / "portusctl.yml").read_text()
    assert placeholder not in configured
    assert re.sub(r"Bearer \S+", "Bearer S", configured) == re.sub(r"Bearer \S+", "Bearer S", config)
    with running_registry(configured, hostname, tmp_path / "registry") as registry:
        worker = start_worker(
            tmp_path / "worker.log",
            PORTUS_BACKGROUND_SYNC_STRATEGY="disabled",
            PORTUS_BACKGROUND_POLL_INTERVAL_VALUE="1",
            PORTUS_DELETE_ENABLED="true",
        )
        try:
            journey(browser, admin, base, hostname, tmp_path)
        except BaseException:
            print((tmp_path / "worker.log").read_text(errors="replace")[-4000:])
            print(registry.log()[-4000:])
            raise
        finally:
            # Closing the pages ends their keep-alive connections, and with them the live server's
            # request threads and their database connections.
            for context in browser.contexts:
                context.close()
            worker.terminate()
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()


def journey(browser: Any, admin: Any, base: str, hostname: str, tmp_path: Path) -> None:
    # 2. A developer signs up in their own browser.
    member = new_page(browser)
    sign_up(member, base, "dev")
    member.wait_for_url(f"{base}/")

    # 3. The admin creates a team and adds the developer as contributor.
    admin.goto(f"{base}/teams/new/")
    admin.fill("#id_name", "acme")
    admin.fill("#id_description", "The **acme** product team.")
    admin.click("button:has-text('Create team')")
    admin.wait_for_url(re.compile(r"/teams/\d+/$"))
    admin.fill("#id_username", "dev")
    admin.select_option("#id_role", "contributor")
    admin.click("button:has-text('Add member')")
    admin.wait_for_selector("text=dev joined acme.")
    dev_row = admin.locator("tr", has_text="dev").first
    assert dev_row.locator("select").input_value() == "contributor"
    shot(admin, "team")

    # 4. The member creates a private and a public namespace for the team.
    for name, visibility in (("acme", "private"), ("acme-oss", "public")):
        member.goto(f"{base}/namespaces/new/")
        member.fill("#id_name", name)
        member.check(f"input[name=visibility][value={visibility}]")
        member.click("button:has-text('Create namespace')")
        member.wait_for_url(re.compile(r"/namespaces/\d+/$"))
        assert f"Namespace {name} created." in member.content()

    # 5. Images pushed with skopeo show up on the pages once the worker has applied the events.
    push(tmp_path, hostname, "dev", "acme/app", "v1")
    push(tmp_path, hostname, "dev", "acme/app", "v2")
    push(tmp_path, hostname, "dev", "acme-oss/tool", "v1")
    member.goto(f"{base}/namespaces/")
    member.click("a:text-is('acme')")
    poll_page(
        member,
        lambda p: p.locator("a:text-is('acme/app')").count() == 1,
        "acme/app on its namespace page",
    )
    shot(member, "namespace")
    member.click("a:text-is('acme/app')")
    poll_page(
        member,
        lambda p: tag_link(p, "v2").count() == 1 and tag_link(p, "v1").count() == 1,
        "both tags on the repository page",
    )
    repository_url = member.url
    assert f"docker pull {hostname}/acme/app:v2" == member.input_value("#pull-cmd")

    # 6. Star, with htmx swapping the button in place.
    member.click("button:has-text('Star')")
    member.wait_for_selector("button:has-text('Unstar')")
    assert member.locator("#star .star-count").inner_text() == "1"

    # 7. Comment in markdown; script in it stays inert.
    member.fill("#id_body", "Ship it! **v2** is good. <script>window.pwned = true</script>")
    member.click("button:has-text('Comment')")
    member.wait_for_selector("#comments-block strong:text-is('v2')")
    assert member.evaluate("window.pwned === undefined")
    shot(member, "repository")

    # The tag page reads the manifest from the real registry.
    tag_link(member, "v1").click()
    member.wait_for_selector("text=Layer")
    assert "The registry could not be read" not in member.content()
    shot(member, "tag")

    # 8. The contributor may not delete (delete.contributors is off); the admin deletes v2.
    member.goto(repository_url)
    assert member.locator("a:has-text('Delete')").count() == 0
    admin.goto(repository_url)
    admin.click("a[aria-label='Delete tag v2']")
    admin.click("button.danger:has-text('Delete')")
    admin.wait_for_url(repository_url)
    # Wait for the message rather than reading the page once: under load the URL can change
    # before the redirected page has been rendered into the DOM.
    admin.wait_for_selector("text=Deleted acme/app:v2.")
    assert tag_link(admin, "v2").count() == 0
    assert tag_link(admin, "v1").count() == 1
    gone = skopeo(
        "inspect",
        "--raw",
        "--tls-verify=false",
        "--creds",
        f"boss:{PASSWORD}",
        f"docker://{hostname}/acme/app:v2",
    )
    assert gone.returncode != 0  # deleted in the registry, not only in Portus
    kept = skopeo(
        "inspect",
        "--raw",
        "--tls-verify=false",
        "--creds",
        f"boss:{PASSWORD}",
        f"docker://{hostname}/acme/app:v1",
    )
    assert kept.returncode == 0, kept.stderr

    # 9. An anonymous visitor finds the public image on Explore and cannot see the private one.
    visitor = new_page(browser)
    visitor.goto(f"{base}/explore/")
    poll_page(
        visitor,
        lambda p: p.locator("a:text-is('acme-oss/tool')").count() == 1,
        "public image on Explore",
    )
    assert "acme/app" not in visitor.content()
    shot(visitor, "explore")
    visitor.goto(f"{base}/explore/?q=app")
    assert "acme/app" not in visitor.content()
    response = visitor.goto(repository_url)  # acme/app, in the private namespace
    assert response.status == 404 and "Nothing here" in visitor.content()
    visitor.click("text=Explore public images")
    visitor.click("a:text-is('acme-oss/tool')")
    assert f"docker pull {hostname}/acme-oss/tool:v1" == visitor.input_value("#pull-cmd")

    # The remaining main pages, for the README.
    member.goto(f"{base}/")
    member.wait_for_selector("text=Recent activity")
    shot(member, "dashboard")
    member.goto(f"{base}/profile/")
    member.fill("#id_name", "laptop")
    member.click("button:has-text('Create token')")
    member.wait_for_selector("#new-token")
    assert member.input_value("#new-token").startswith("prt_")
    shot(member, "profile")
    for path, name in (
        ("/admin/users/", "admin-users"),
        ("/admin/tasks/", "admin-tasks"),
        ("/admin/activity/", "admin-activity"),
    ):
        admin.goto(f"{base}{path}")
        shot(admin, name)
    phone = new_page(browser, 390, 844, is_mobile=True)
    phone.goto(f"{base}/explore/")
    phone.click("a:text-is('acme-oss/tool')")
    shot(phone, "repository-phone")


def test_pages_work_without_javascript_and_from_the_keyboard(
    browser: Any, live_server: Any, transactional_db: None
) -> None:
    world = make_world()
    repository_url = f"{live_server.url}/repositories/{add_repository(world.namespace, 'api').pk}/"
    team_url = f"{live_server.url}/teams/{world.team.pk}/"
    page = new_page(browser, java_script_enabled=False)

    # Sign in with the keyboard only: the user name field has the focus, the form answers Enter.
    page.goto(f"{live_server.url}/login/")
    assert page.evaluate("document.activeElement.id") == "id_username"
    page.keyboard.type("owner")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server.url}/")
    # On every page the first Tab reaches the skip link, and it shows while focused.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    assert page.evaluate("document.activeElement.getBoundingClientRect().left") >= 0

    # Star and comment: plain form posts that come back to the page.
    page.goto(repository_url)
    assert page.locator("[data-copy]").first.is_hidden()  # copy buttons need script; the field stays
    page.click("button:has-text('Star')")
    page.wait_for_selector("button:has-text('Unstar')")
    page.fill("#id_body", "Works *without* script.")
    page.click("button:has-text('Comment')")
    page.wait_for_selector("#comments-block em:text-is('without')")

    # Change a member's role and the namespace's visibility without htmx.
    page.goto(team_url)
    role = page.get_by_label("Role of viewer")
    role.select_option("contributor")
    page.locator("tr", has=role).get_by_role("button", name="Change role").click()
    page.wait_for_selector("text=viewer is now contributor.")
    page.goto(f"{live_server.url}/namespaces/{world.namespace.pk}/")
    page.check("input[name=visibility][value=protected]")
    page.click("#visibility button:has-text('Save')")
    page.wait_for_selector("text=acme is now protected.")

    # A new token is shown once, in the page itself.
    page.goto(f"{live_server.url}/profile/")
    page.fill("#id_name", "no-js")
    page.click("button:has-text('Create token')")
    assert page.input_value("#new-token").startswith("prt_")
    page.context.close()

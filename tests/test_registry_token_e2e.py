"""The token service proven against a real docker-registry and skopeo."""

from __future__ import annotations

from pathlib import Path

import pytest

from portus.accounts.actions import create_token, revoke_token
from portus.registry.actions import change_visibility
from tests.conftest import PASSWORD
from tests.e2e import Stack, stack  # noqa: F401  (fixture)
from tests.support.images import make_image
from tests.support.registry import skopeo

pytestmark = pytest.mark.e2e


def push(stack: Stack, repository: str, creds: str | None, tag: str = "v1") -> object:
    image = make_image(stack.tmp / f"img-{repository.replace('/', '_')}-{tag}", tag=tag)
    auth = ["--dest-creds", creds] if creds else ["--dest-no-creds"]
    return skopeo("copy", "--dest-tls-verify=false", *auth, image.reference, stack.ref(repository, tag))


def pull(stack: Stack, repository: str, creds: str | None, tag: str = "v1") -> object:
    auth = ["--creds", creds] if creds else ["--no-creds"]
    return skopeo("inspect", "--raw", "--tls-verify=false", *auth, stack.ref(repository, tag))


def creds(user: str, password: str = PASSWORD) -> str:
    return f"{user}:{password}"


def test_user_pushes_to_personal_namespace_and_pulls_it_back(stack: Stack) -> None:
    pushed = push(stack, "outsider/app", creds("outsider"))
    assert pushed.returncode == 0, pushed.stderr
    pulled = pull(stack, "outsider/app", creds("outsider"))
    assert pulled.returncode == 0, pulled.stderr
    assert '"schemaVersion"' in pulled.stdout


def test_user_cannot_push_to_someone_elses_namespace(stack: Stack) -> None:
    denied = push(stack, "viewer/app", creds("outsider"))
    assert denied.returncode != 0
    assert "denied" in denied.stderr.lower() or "unauthorized" in denied.stderr.lower()


def test_contributor_can_push_to_team_namespace_and_viewer_cannot(stack: Stack) -> None:
    assert push(stack, "acme/api", creds("contributor")).returncode == 0
    viewer_push = push(stack, "acme/web", creds("viewer"))
    assert viewer_push.returncode != 0
    # ...but the viewer may pull what the contributor pushed (private team namespace).
    assert pull(stack, "acme/api", creds("viewer")).returncode == 0
    assert pull(stack, "acme/api", creds("outsider")).returncode != 0


def test_anonymous_pulls_public_image_but_not_private_one(stack: Stack) -> None:
    assert push(stack, "acme/public-app", creds("owner")).returncode == 0
    assert pull(stack, "acme/public-app", None).returncode != 0  # still private
    change_visibility(namespace=stack.world.namespace, visibility="public", actor=stack.world.owner)
    assert pull(stack, "acme/public-app", None).returncode == 0


def test_protected_image_is_pulled_by_any_signed_in_user_only(stack: Stack) -> None:
    assert push(stack, "acme/inner", creds("owner")).returncode == 0
    change_visibility(namespace=stack.world.namespace, visibility="protected", actor=stack.world.owner)
    assert pull(stack, "acme/inner", creds("outsider")).returncode == 0
    assert pull(stack, "acme/inner", None).returncode != 0


def test_application_token_works_as_password_until_revoked(stack: Stack) -> None:
    token, plain = create_token(user=stack.world.contributor, name="ci", actor=stack.world.contributor)
    assert push(stack, "acme/ci-built", f"contributor:{plain}").returncode == 0
    assert pull(stack, "acme/ci-built", f"contributor:{plain}").returncode == 0
    revoke_token(token=token, actor=stack.world.contributor)
    refused = pull(stack, "acme/ci-built", f"contributor:{plain}")
    assert refused.returncode != 0


def test_wrong_password_fails(stack: Stack) -> None:
    refused = push(stack, "outsider/app", creds("outsider", "not-the-password"))
    assert refused.returncode != 0
    assert "401" in refused.stderr or "unauthorized" in refused.stderr.lower() or "invalid" in refused.stderr.lower()


def test_admin_pushes_to_the_global_namespace_and_others_cannot(stack: Stack) -> None:
    assert push(stack, "busybox", creds("admin")).returncode == 0
    assert push(stack, "alpine", creds("owner")).returncode != 0
    assert pull(stack, "busybox", None).returncode == 0  # the global namespace is public


@pytest.fixture
def delete_stack(live_server: object, transactional_db: None, tmp_path: Path, portus_config) -> object:
    from tests.e2e import start_stack

    portus_config("delete.enabled", True)  # read by `registry config` and the policy
    yield from start_stack(live_server, tmp_path)


def test_delete_through_the_registry_only_where_policy_allows(delete_stack: Stack, portus_config) -> None:
    stack = delete_stack
    assert push(stack, "acme/doomed", creds("owner")).returncode == 0
    assert push(stack, "acme/doomed", creds("owner"), tag="v2").returncode == 0
    ref_v1 = stack.ref("acme/doomed", "v1")
    ref_v2 = stack.ref("acme/doomed", "v2")
    # A contributor may not delete while delete.contributors is off...
    denied = skopeo("delete", "--tls-verify=false", "--creds", creds("contributor"), ref_v1)
    assert denied.returncode != 0
    # ...the owner may.
    deleted = skopeo("delete", "--tls-verify=false", "--creds", creds("owner"), ref_v1)
    assert deleted.returncode == 0, deleted.stderr
    assert pull(stack, "acme/doomed", creds("owner")).returncode != 0
    portus_config("delete.contributors", True)
    assert skopeo("delete", "--tls-verify=false", "--creds", creds("contributor"), ref_v2).returncode == 0
    # With deletion switched off in Portus, even the owner is refused by the token service.
    assert push(stack, "acme/doomed", creds("owner"), tag="v3").returncode == 0
    portus_config("delete.enabled", False)
    refused = skopeo("delete", "--tls-verify=false", "--creds", creds("owner"), stack.ref("acme/doomed", "v3"))
    assert refused.returncode != 0

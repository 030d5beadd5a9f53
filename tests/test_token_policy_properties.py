"""Property: a registry token never holds an action the permission rules of issue 2 deny.

The rules are written out again below, from the issue's text, as an oracle that does not call
portus.policy; each example builds a small world, asks the real /v2/token endpoint and decodes the
real JWT (checking its signature against the certificate the registry trusts).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

import jwt
import pytest
from cryptography import x509
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.test import Client
from hypothesis import HealthCheck, event, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from portus.accounts.actions import create_user
from portus.accounts.models import User
from portus.registry.actions import add_member, create_namespace, create_registry, create_team
from portus.registry.models import Namespace
from portus.registry.signing import signing_key
from tests.conftest import PASSWORD

SERVICE = "registry.prop"
ROLES = ("owner", "contributor", "viewer")
VISIBILITIES = ("private", "protected", "public")
PUSH_POLICIES = ("allow-teams", "allow-personal", "admin-only")
ACTIONS = ("pull", "push", "delete", "*")
USERNAMES = ("amy", "bob", "cat", "dan")


# -- the world an example runs in ------------------------------------------------------------------


@dataclass(frozen=True)
class PersonSpec:
    admin: bool
    enabled: bool
    personal_visibility: str


@dataclass(frozen=True)
class TeamSpec:
    # username -> role, for the members of this team
    members: dict[str, str]
    namespaces: tuple[str, ...]  # visibility of each of its namespaces


@dataclass(frozen=True)
class WorldSpec:
    people: dict[str, PersonSpec]
    teams: tuple[TeamSpec, ...]
    global_visibility: str
    push_policy: str
    delete_enabled: bool
    delete_contributors: bool


@dataclass
class Namespaces:
    """What the oracle knows about each namespace, by name ("" is the global one)."""

    kind: dict[str, str] = field(default_factory=dict)
    visibility: dict[str, str] = field(default_factory=dict)
    owner: dict[str, str] = field(default_factory=dict)  # personal namespace -> username
    roles: dict[str, dict[str, str]] = field(default_factory=dict)  # team namespace -> {user: role}


# Admins and disabled users are drawn less often, so most examples exercise roles and visibility.
mostly_false = st.sampled_from((False, False, False, True))
people = st.dictionaries(
    st.sampled_from(USERNAMES),
    st.builds(
        PersonSpec,
        mostly_false,
        mostly_false.map(lambda disabled: not disabled),
        st.sampled_from(VISIBILITIES),
    ),
    min_size=1,
    max_size=len(USERNAMES),
)


@st.composite
def worlds(draw: st.DrawFn) -> WorldSpec:
    persons = draw(people)
    names = sorted(persons)
    teams = draw(
        st.lists(
            st.builds(
                TeamSpec,
                # Every person draws a role in every team, or none (an outsider to it).
                st.fixed_dictionaries({n: st.sampled_from((*ROLES, None)) for n in names}).map(
                    lambda roles: {n: r for n, r in roles.items() if r is not None}
                ),
                st.lists(st.sampled_from(VISIBILITIES), min_size=1, max_size=2).map(tuple),
            ),
            min_size=1,
            max_size=2,
        )
    )
    return WorldSpec(
        people=persons,
        teams=tuple(teams),
        global_visibility=draw(st.sampled_from(("public", "protected"))),
        push_policy=draw(st.sampled_from(PUSH_POLICIES)),
        delete_enabled=draw(st.booleans()),
        delete_contributors=draw(st.booleans()),
    )


def build(spec: WorldSpec) -> Namespaces:
    """Create the world in the database through the real actions; return the oracle's view of it."""
    known = Namespaces()
    registry = create_registry(name="prop", hostname=SERVICE)
    Namespace.objects.filter(registry=registry, kind="global").update(visibility=spec.global_visibility)
    known.kind[""], known.visibility[""] = "global", spec.global_visibility
    users: dict[str, User] = {}
    for name, person in sorted(spec.people.items()):
        user = create_user(username=name, password=PASSWORD, admin=person.admin)
        Namespace.objects.filter(owner=user).update(visibility=person.personal_visibility)
        known.kind[name], known.visibility[name], known.owner[name] = (
            "personal",
            person.personal_visibility,
            name,
        )
        users[name] = user
    for index, team_spec in enumerate(spec.teams):
        # A team always has an owner; when the drawn members hold none, a helper owns it.
        owner_name = next((n for n, r in sorted(team_spec.members.items()) if r == "owner"), None)
        if owner_name is None:
            helper = create_user(username=f"helper{index}", password=PASSWORD, admin=False)
            owner, roles = helper, {f"helper{index}": "owner"}
        else:
            owner, roles = users[owner_name], {owner_name: "owner"}
        team = create_team(name=f"team{index}", owner=owner, actor=owner)
        for name, role in sorted(team_spec.members.items()):
            if name != owner_name:
                add_member(team=team, user=users[name], role=role, actor=owner)
                roles[name] = role
        for number, visibility in enumerate(team_spec.namespaces):
            ns_name = f"t{index}n{number}"
            create_namespace(name=ns_name, team=team, visibility=visibility, registry=registry, actor=owner)
            known.kind[ns_name], known.visibility[ns_name], known.roles[ns_name] = (
                "team",
                visibility,
                roles,
            )
    # Disable last, so the actions above (which refuse to disable the last admin) stay out of it.
    disabled = [name for name, person in spec.people.items() if not person.enabled]
    User.objects.filter(username__in=disabled).update(is_active=False)
    return known


# -- the oracle: issue 2's rules, written independently of portus.policy ---------------------------


def namespace_of(repository: str) -> str:
    return repository.split("/", 1)[0] if "/" in repository else ""


def oracle_actions(spec: WorldSpec, known: Namespaces, who: str | None, repository: str) -> set[str]:
    """Every action the rules allow WHO (None: anonymous) on REPOSITORY."""
    ns = namespace_of(repository)
    if ns not in known.kind:
        return set()  # no such namespace: nothing is granted
    kind, visibility = known.kind[ns], known.visibility[ns]
    admin = who is not None and spec.people[who].admin
    if kind == "personal":
        role = "owner" if known.owner[ns] == who else None
    elif kind == "team":
        role = known.roles[ns].get(who) if who else None
    else:
        role = None
    allowed: set[str] = set()
    # pull: anonymous from public only; anyone signed in from protected too;
    # members and admins from private.
    if visibility == "public" or admin or (who is not None and (visibility == "protected" or role is not None)):
        allowed.add("pull")
    # push: admins always; only admins to the global namespace; otherwise by push_images.policy.
    if admin:
        allowed.add("push")
    elif who is not None and kind != "global":
        if spec.push_policy == "allow-teams" and role in ("owner", "contributor"):
            allowed.add("push")
        if spec.push_policy == "allow-personal" and kind == "personal" and role == "owner":
            allowed.add("push")
    # delete: only with delete.enabled; admins and owners; contributors with delete.contributors.
    if spec.delete_enabled and (
        admin
        or (kind != "global" and role == "owner")
        or (kind != "global" and role == "contributor" and spec.delete_contributors)
    ):
        allowed.add("delete")
    return allowed


def requested_actions(actions: tuple[str, ...]) -> set[str]:
    return {"pull", "push", "delete"} if "*" in actions else set(actions)


# -- scopes asked for ------------------------------------------------------------------------------


@st.composite
def scopes(draw: st.DrawFn, spec: WorldSpec) -> tuple[str, str, tuple[str, ...]]:
    # Team namespaces weigh more: that is where roles, and so most rules, come into play.
    team_namespaces = [f"t{i}n{n}" for i, team in enumerate(spec.teams) for n in range(len(team.namespaces))]
    namespace_names = (
        team_namespaces * 3
        + sorted(spec.people) * 2
        + ["", "nobody"]  # the global namespace, and one that does not exist
    )
    kind = draw(st.sampled_from(["repository"] * 5 + ["registry"]))
    if kind == "registry":
        return ("registry", "catalog", ("*",))
    ns = draw(st.sampled_from(namespace_names))
    path = draw(st.sampled_from(["app", "group/app", "a.b/c-d/e_f"]))
    repository = f"{ns}/{path}" if ns else path.split("/")[-1]
    actions = tuple(draw(st.lists(st.sampled_from(ACTIONS), min_size=1, max_size=3, unique=True)))
    return ("repository", repository, actions)


@st.composite
def examples(
    draw: st.DrawFn,
) -> tuple[WorldSpec, str | None, list[tuple[str, str, tuple[str, ...]]]]:
    spec = draw(worlds())
    who = draw(st.sampled_from([*sorted(spec.people) * 3, None]))
    asked = draw(st.lists(scopes(spec), min_size=1, max_size=4))
    return spec, who, asked


# -- the property ----------------------------------------------------------------------------------


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def decode(token: str) -> dict:
    """Verify the token the way the registry does: with the public key of the certificate bundle."""
    certificate = x509.load_pem_x509_certificate(settings.TOKEN_CERT_PATH.read_bytes())
    return jwt.decode(
        token,
        certificate.public_key(),
        algorithms=["ES256", "RS256"],
        audience=SERVICE,
        issuer=settings.MACHINE_FQDN,
    )


@pytest.mark.django_db
@hypothesis_settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(example=examples())
def test_token_never_holds_an_action_the_rules_deny(example, portus_config) -> None:
    spec, who, asked = example
    signing_key()  # generate the key outside the rolled-back transaction
    portus_config("user_permission.push_images.policy", spec.push_policy)
    portus_config("delete.enabled", spec.delete_enabled)
    portus_config("delete.contributors", spec.delete_contributors)
    cache.clear()  # a new world: verifications remembered by the last example do not apply
    client = Client()
    with transaction.atomic():
        known = build(spec)
        query = {"service": SERVICE, "scope": [f"{t}:{n}:{','.join(a)}" for t, n, a in asked]}
        headers = {}
        if who is not None:
            query["account"] = who
            headers["HTTP_AUTHORIZATION"] = basic(who, PASSWORD)
        response = client.get("/v2/token", query, **headers)
        transaction.set_rollback(True)

    for kind, name, _ in asked:  # shown by --hypothesis-show-statistics: are the rules all reached?
        if kind == "registry":
            event(f"catalog asked by {'an admin' if who and spec.people[who].admin else 'another'}")
            continue
        ns = namespace_of(name)
        ns_kind = known.kind.get(ns, "missing")
        if ns_kind == "personal":
            role = "owner" if known.owner[ns] == who else None
        else:
            role = known.roles.get(ns, {}).get(who) if who else None
        person = "anonymous" if who is None else "admin" if spec.people[who].admin else role or "outsider"
        event(f"{person} on {ns_kind} ({known.visibility.get(ns, '-')})")
    if who is not None and not spec.people[who].enabled:
        assert response.status_code == 401, response.content
        assert "token" not in response.json()
        return
    assert response.status_code == 200, response.content
    claims = decode(response.json()["token"])
    assert claims["sub"] == (who or "")

    granted: dict[tuple[str, str], set[str]] = {}
    for entry in claims["access"]:
        granted.setdefault((entry["type"], entry["name"]), set()).update(entry["actions"])
    wanted: dict[tuple[str, str], set[str]] = {}
    for kind, name, actions in asked:
        wanted.setdefault((kind, name), set()).update(actions)

    for (kind, name), actions in granted.items():
        assert (kind, name) in wanted, f"granted {kind}:{name}, which was never asked for"
        if kind == "registry":
            assert actions == {"*"}
            assert who is not None and spec.people[who].admin, "catalog granted to a non-admin"
            continue
        allowed = oracle_actions(spec, known, who, name)
        assert actions <= allowed, f"{who} got {actions - allowed} on {name}, which the rules deny"
        assert actions <= requested_actions(tuple(wanted[(kind, name)])), "granted more than asked"
    # And the converse: what the rules allow and the client asked for is granted (nothing lost).
    for (kind, name), actions in wanted.items():
        if kind == "registry":
            expected = {"*"} if who is not None and spec.people[who].admin else set()
        else:
            expected = oracle_actions(spec, known, who, name) & requested_actions(tuple(actions))
        assert granted.get((kind, name), set()) == expected, (kind, name, who)

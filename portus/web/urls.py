"""Routes for the pages; names live in the "web" namespace (``{% url 'web:repository' pk %}``)."""

from __future__ import annotations

from django.urls import path

from portus.web.views import (
    admin,
    auth,
    dashboard,
    explore,
    namespaces,
    profile,
    repositories,
    search,
    security,
    tags,
    teams,
    webhooks,
)

app_name = "web"

urlpatterns = [
    path("", dashboard.dashboard, name="dashboard"),
    path("explore/", explore.explore, name="explore"),
    path("search/", search.search, name="search"),
    # Signing in and out
    path("login/", auth.SignInView.as_view(), name="login"),
    path("logout/", auth.SignOutView.as_view(), name="logout"),
    path("signup/", auth.SignUp.as_view(), name="signup"),
    path("password-reset/", auth.PasswordResetView.as_view(), name="password-reset"),
    path("password-reset/sent/", auth.PasswordResetDoneView.as_view(), name="password-reset-done"),
    path("password-reset/<uidb64>/<token>/", auth.PasswordResetConfirmView.as_view(), name="password-reset-confirm"),
    path("password-reset/done/", auth.PasswordResetCompleteView.as_view(), name="password-reset-complete"),
    # Namespaces
    path("namespaces/", namespaces.namespace_list, name="namespaces"),
    path("namespaces/new/", namespaces.NamespaceCreate.as_view(), name="namespace-create"),
    path("namespaces/<int:pk>/", namespaces.namespace_detail, name="namespace"),
    path("namespaces/<int:pk>/edit/", namespaces.NamespaceEdit.as_view(), name="namespace-edit"),
    path("namespaces/<int:pk>/visibility/", namespaces.NamespaceVisibility.as_view(), name="namespace-visibility"),
    path("namespaces/<int:pk>/transfer/", namespaces.NamespaceTransfer.as_view(), name="namespace-transfer"),
    path("namespaces/<int:pk>/delete/", namespaces.NamespaceDelete.as_view(), name="namespace-delete"),
    # A namespace's webhooks and their deliveries
    path("namespaces/<int:pk>/webhooks/", webhooks.WebhookList.as_view(), name="namespace-webhooks"),
    path("namespaces/<int:pk>/webhooks/new/", webhooks.WebhookCreate.as_view(), name="webhook-create"),
    path("namespaces/<int:pk>/webhooks/<int:webhook_pk>/", webhooks.WebhookEdit.as_view(), name="webhook"),
    path(
        "namespaces/<int:pk>/webhooks/<int:webhook_pk>/enabled/",
        webhooks.WebhookEnabled.as_view(),
        name="webhook-enabled",
    ),
    path(
        "namespaces/<int:pk>/webhooks/<int:webhook_pk>/headers/",
        webhooks.WebhookHeaderSet.as_view(),
        name="webhook-header-set",
    ),
    path(
        "namespaces/<int:pk>/webhooks/<int:webhook_pk>/headers/<int:header_pk>/remove/",
        webhooks.WebhookHeaderRemove.as_view(),
        name="webhook-header-remove",
    ),
    path(
        "namespaces/<int:pk>/webhooks/<int:webhook_pk>/secret/",
        webhooks.WebhookSecret.as_view(),
        name="webhook-secret",
    ),
    path(
        "namespaces/<int:pk>/webhooks/<int:webhook_pk>/delete/",
        webhooks.WebhookDelete.as_view(),
        name="webhook-delete",
    ),
    path(
        "namespaces/<int:pk>/webhooks/<int:webhook_pk>/deliveries/",
        webhooks.DeliveryList.as_view(),
        name="webhook-deliveries",
    ),
    path(
        "namespaces/<int:pk>/webhooks/<int:webhook_pk>/deliveries/<int:delivery_pk>/retrigger/",
        webhooks.DeliveryRetrigger.as_view(),
        name="webhook-retrigger",
    ),
    # Teams
    path("teams/", teams.team_list, name="teams"),
    path("teams/new/", teams.TeamCreate.as_view(), name="team-create"),
    path("teams/<int:pk>/", teams.team_detail, name="team"),
    path("teams/<int:pk>/edit/", teams.TeamEdit.as_view(), name="team-edit"),
    path("teams/<int:pk>/delete/", teams.TeamDelete.as_view(), name="team-delete"),
    path("teams/<int:pk>/members/", teams.MemberAdd.as_view(), name="team-member-add"),
    path("teams/<int:pk>/members/<int:membership_pk>/role/", teams.MemberRole.as_view(), name="team-member-role"),
    path("teams/<int:pk>/members/<int:membership_pk>/remove/", teams.MemberRemove.as_view(), name="team-member-remove"),
    # Repositories and tags
    path("repositories/<int:pk>/", repositories.repository_detail, name="repository"),
    path("repositories/<int:pk>/edit/", repositories.RepositoryEdit.as_view(), name="repository-edit"),
    path("repositories/<int:pk>/delete/", repositories.repository_delete, name="repository-delete"),
    path("repositories/<int:pk>/star/", repositories.RepositoryStar.as_view(), name="repository-star"),
    path("repositories/<int:pk>/comments/", repositories.CommentCreate.as_view(), name="comment-create"),
    path(
        "repositories/<int:pk>/comments/<int:comment_pk>/delete/",
        repositories.CommentDelete.as_view(),
        name="comment-delete",
    ),
    path("repositories/<int:pk>/tags/<str:name>/", tags.tag_detail, name="tag"),
    path("repositories/<int:pk>/tags/<str:name>/delete/", tags.tag_delete, name="tag-delete"),
    path("repositories/<int:pk>/tags/<str:name>/delete-image/", tags.tag_image_delete, name="tag-image-delete"),
    path("repositories/<int:pk>/tags/<str:name>/sbom/", tags.tag_sbom, name="tag-sbom"),
    path("repositories/<int:pk>/tags/<str:name>/scan/", security.rescan, name="tag-rescan"),
    path("repositories/<int:pk>/scan/", security.rescan, name="repository-rescan"),
    # Vulnerability allowlist
    path("allowlist/", security.allowlist, name="allowlist"),
    path("allowlist/<int:entry_pk>/remove/", security.allowlist_remove, name="allowlist-remove"),
    # Profile
    path("profile/", profile.Profile.as_view(), name="profile"),
    path("profile/password/", profile.PasswordChange.as_view(), name="password-change"),
    path("profile/providers/<int:account_pk>/unlink/", profile.ProviderUnlink.as_view(), name="provider-unlink"),
    path("profile/tokens/", profile.ProfileTokenCreate.as_view(), name="token-create"),
    path("profile/tokens/<int:token_pk>/revoke/", profile.ProfileTokenRevoke.as_view(), name="token-revoke"),
    # Administration
    path("setup/", admin.FirstRun.as_view(), name="first-run"),
    path("admin/users/", admin.UserList.as_view(), name="admin-users"),
    path("admin/users/new/", admin.UserCreate.as_view(), name="admin-user-create"),
    path("admin/users/<int:pk>/", admin.UserDetail.as_view(), name="admin-user"),
    path("admin/users/<int:pk>/change/", admin.UserChange.as_view(), name="admin-user-change"),
    path("admin/users/<int:pk>/delete/", admin.UserDelete.as_view(), name="admin-user-delete"),
    path("admin/users/<int:pk>/tokens/", admin.BotTokenCreate.as_view(), name="admin-user-token-create"),
    path(
        "admin/users/<int:pk>/tokens/<int:token_pk>/revoke/",
        admin.BotTokenRevoke.as_view(),
        name="admin-user-token-revoke",
    ),
    path("admin/registries/", admin.RegistryList.as_view(), name="admin-registries"),
    path("admin/reserved-names/", admin.ReservedNameList.as_view(), name="admin-reserved-names"),
    path(
        "admin/reserved-names/<int:pk>/release/",
        admin.ReservedNameRelease.as_view(),
        name="admin-reserved-name-release",
    ),
    path("admin/registries/new/", admin.RegistryCreate.as_view(), name="admin-registry-create"),
    path("admin/tasks/", admin.Tasks.as_view(), name="admin-tasks"),
    path("admin/activity/", admin.ActivityLog.as_view(), name="admin-activity"),
    path("admin/storage/", admin.Storage.as_view(), name="admin-storage"),
    path("admin/activity.csv", admin.ActivityCsv.as_view(), name="admin-activity-csv"),
]

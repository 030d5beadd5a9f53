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
    tags,
    teams,
)

app_name = "web"

urlpatterns = [
    path("", dashboard.dashboard, name="dashboard"),
    path("explore/", explore.explore, name="explore"),
    path("search/", search.search, name="search"),
    # Signing in and out
    path("login/", auth.SignInView.as_view(), name="login"),
    path("logout/", auth.SignOutView.as_view(), name="logout"),
    path("signup/", auth.signup, name="signup"),
    path("password-reset/", auth.PasswordResetView.as_view(), name="password-reset"),
    path("password-reset/sent/", auth.PasswordResetDoneView.as_view(), name="password-reset-done"),
    path(
        "password-reset/<uidb64>/<token>/",
        auth.PasswordResetConfirmView.as_view(),
        name="password-reset-confirm",
    ),
    path(
        "password-reset/done/",
        auth.PasswordResetCompleteView.as_view(),
        name="password-reset-complete",
    ),
    # Namespaces
    path("namespaces/", namespaces.namespace_list, name="namespaces"),
    path("namespaces/new/", namespaces.namespace_create, name="namespace-create"),
    path("namespaces/<int:pk>/", namespaces.namespace_detail, name="namespace"),
    path("namespaces/<int:pk>/edit/", namespaces.namespace_edit, name="namespace-edit"),
    path(
        "namespaces/<int:pk>/visibility/",
        namespaces.namespace_visibility,
        name="namespace-visibility",
    ),
    path("namespaces/<int:pk>/transfer/", namespaces.namespace_transfer, name="namespace-transfer"),
    path("namespaces/<int:pk>/delete/", namespaces.namespace_delete, name="namespace-delete"),
    # Teams
    path("teams/", teams.team_list, name="teams"),
    path("teams/new/", teams.team_create, name="team-create"),
    path("teams/<int:pk>/", teams.team_detail, name="team"),
    path("teams/<int:pk>/edit/", teams.team_edit, name="team-edit"),
    path("teams/<int:pk>/delete/", teams.team_delete, name="team-delete"),
    path("teams/<int:pk>/members/", teams.member_add, name="team-member-add"),
    path(
        "teams/<int:pk>/members/<int:membership_pk>/role/",
        teams.member_role,
        name="team-member-role",
    ),
    path(
        "teams/<int:pk>/members/<int:membership_pk>/remove/",
        teams.member_remove,
        name="team-member-remove",
    ),
    # Repositories and tags
    path("repositories/<int:pk>/", repositories.repository_detail, name="repository"),
    path("repositories/<int:pk>/edit/", repositories.repository_edit, name="repository-edit"),
    path("repositories/<int:pk>/delete/", repositories.repository_delete, name="repository-delete"),
    path("repositories/<int:pk>/star/", repositories.repository_star, name="repository-star"),
    path("repositories/<int:pk>/comments/", repositories.comment_create, name="comment-create"),
    path(
        "repositories/<int:pk>/comments/<int:comment_pk>/delete/",
        repositories.comment_delete,
        name="comment-delete",
    ),
    path("repositories/<int:pk>/tags/<str:name>/", tags.tag_detail, name="tag"),
    path("repositories/<int:pk>/tags/<str:name>/delete/", tags.tag_delete, name="tag-delete"),
    # Profile
    path("profile/", profile.profile, name="profile"),
    path("profile/password/", profile.password_change, name="password-change"),
    path("profile/tokens/", profile.token_create, name="token-create"),
    path("profile/tokens/<int:token_pk>/revoke/", profile.token_revoke, name="token-revoke"),
    # Administration
    path("setup/", admin.first_run, name="first-run"),
    path("admin/users/", admin.user_list, name="admin-users"),
    path("admin/users/new/", admin.user_create, name="admin-user-create"),
    path("admin/users/<int:pk>/", admin.user_detail, name="admin-user"),
    path("admin/users/<int:pk>/change/", admin.user_change, name="admin-user-change"),
    path("admin/users/<int:pk>/delete/", admin.user_delete, name="admin-user-delete"),
    path("admin/users/<int:pk>/tokens/", admin.bot_token_create, name="admin-user-token-create"),
    path(
        "admin/users/<int:pk>/tokens/<int:token_pk>/revoke/",
        admin.bot_token_revoke,
        name="admin-user-token-revoke",
    ),
    path("admin/registries/", admin.registry_list, name="admin-registries"),
    path("admin/registries/new/", admin.registry_create, name="admin-registry-create"),
    path("admin/tasks/", admin.tasks, name="admin-tasks"),
    path("admin/activity/", admin.activity_log, name="admin-activity"),
    path("admin/activity.csv", admin.activity_csv, name="admin-activity-csv"),
]

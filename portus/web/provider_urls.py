"""The URLs of sign-in through OAuth providers and OpenID Connect (django-allauth's provider flows), under /accounts/.

allauth's own sign-in, sign-up and account pages are not served: the names its flows redirect to point at
Portus's pages instead, so that one set of rules (local_login, signup) applies."""

from __future__ import annotations

from allauth.socialaccount import views as social_views
from allauth.urls import build_provider_urlpatterns
from django.urls import URLPattern, URLResolver, path
from django.views.generic import RedirectView

urlpatterns: list[URLPattern | URLResolver] = [
    path("3rdparty/login/cancelled/", social_views.login_cancelled, name="socialaccount_login_cancelled"),
    path("3rdparty/login/error/", social_views.login_error, name="socialaccount_login_error"),
    path("3rdparty/signup/", social_views.signup, name="socialaccount_signup"),
    path("3rdparty/", RedirectView.as_view(pattern_name="web:profile"), name="socialaccount_connections"),
    path("login/", RedirectView.as_view(pattern_name="web:login"), name="account_login"),
    path("signup/", RedirectView.as_view(pattern_name="web:signup"), name="account_signup"),
    path("logout/", RedirectView.as_view(pattern_name="web:logout"), name="account_logout"),
    path("inactive/", RedirectView.as_view(pattern_name="web:login"), name="account_inactive"),
    *build_provider_urlpatterns(),
]

"""DOT's endpoints under /o/ (its documented mount), its RFC 8414 metadata also at the
origin's well-known location for the issuer http://127.0.0.1:PORT/o (RFC 8414 §3.1), a
login page for the test user, and three protected resources."""

from django.contrib.auth import views as auth_views
from django.urls import include, path
from oauth2_provider import urls as dot_urls

from . import views

urlpatterns = [
    # DOT's device authorization endpoint with a short device-code lifetime (see views.py).
    path("o/device-authorization/", views.ShortLivedDeviceAuthorizationView.as_view()),
    path("o/", include("oauth2_provider.urls", namespace="oauth2_provider")),
    path("", include((dot_urls.metadata_urlpatterns, "oauth2_provider"), namespace="root-metadata")),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("api/me", views.Me.as_view()),
    path("api/items", views.Items.as_view()),
    path("api/admin", views.Admin.as_view()),
]

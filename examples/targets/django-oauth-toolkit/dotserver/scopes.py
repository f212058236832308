"""Per-client scope limits through DOT's scopes backend (its documented extension point):
the harness's client_credentials role needs "a client with limited scopes"."""

from oauth2_provider.scopes import SettingsScopes

# client_id -> the scopes it may be given; clients not listed may have every scope.
LIMITS = {"harness-m2m": ["api", "read"]}


class PerClientScopes(SettingsScopes):
    def get_available_scopes(self, application=None, request=None, *args, **kwargs):
        scopes = super().get_available_scopes(application, request, *args, **kwargs)
        limit = LIMITS.get(getattr(application, "client_id", None))
        return [s for s in scopes if limit is None or s in limit]

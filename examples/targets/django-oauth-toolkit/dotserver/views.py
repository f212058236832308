"""The protected API (one resource per scope) and the device server with a short lifetime."""

import os

from django.http import JsonResponse
from oauth2_provider.views import DeviceAuthorizationView
from oauth2_provider.views.generic import ScopedProtectedResourceMetadataView
from oauthlib.oauth2 import DeviceApplicationServer


class ShortLivedDeviceServer(DeviceApplicationServer):
    """oauthlib's device server issues codes for 1800 s and DOT passes no lifetime through;
    this one issues them for DOT_DEVICE_CODE_TTL seconds so that expiry is observable."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._expires_in = int(os.environ.get("DOT_DEVICE_CODE_TTL", "20"))


class ShortLivedDeviceAuthorizationView(DeviceAuthorizationView):
    # A class attribute: DOT builds (and caches) its oauthlib server per view class.
    server_class = ShortLivedDeviceServer


class _Resource(ScopedProtectedResourceMetadataView):
    def get(self, request, *args, **kwargs):
        owner = request.resource_owner
        return JsonResponse({"resource": request.path, "user": getattr(owner, "username", None)})


class Me(_Resource):
    required_scopes = ["api"]


class Items(_Resource):
    required_scopes = ["read"]


class Admin(_Resource):
    required_scopes = ["admin"]

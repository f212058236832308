"""Creates the test user and one DOT application per harness client role.

The ids are DOT's own (not the harness's fixture ids); the secrets come from the
environment that serve.sh generated for this run. Idempotent: a second run updates.
"""

import os

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from oauth2_provider.models import get_application_model

A = get_application_model()
CONF, PUB = A.CLIENT_CONFIDENTIAL, A.CLIENT_PUBLIC
CODE, DEVICE, CC = A.GRANT_AUTHORIZATION_CODE, A.GRANT_DEVICE_CODE, A.GRANT_CLIENT_CREDENTIALS

# role -> (client id, type, grant, redirect URIs, secret variable)
ROLES = {
    "noorle-cli": ("harness-cli", PUB, DEVICE, [], None),
    "tv": ("harness-tv", CONF, DEVICE, [], "DOT_SECRET_TV"),
    "web": ("harness-web", CONF, CODE, ["https://web.example/callback"], "DOT_SECRET_WEB"),
    "web2": ("harness-web2", CONF, CODE, ["https://web2.example/callback"], "DOT_SECRET_WEB2"),
    "multi": (
        "harness-multi",
        CONF,
        CODE,
        ["https://multi.example/cb", "https://multi.example/cb?tenant=7"],
        "DOT_SECRET_MULTI",
    ),
    "spa": ("harness-spa", PUB, CODE, ["https://spa.example/callback"], None),
    "m2m": ("harness-m2m", CONF, CC, ["https://m2m.example/cb"], "DOT_SECRET_M2M"),
    "native": ("harness-native", PUB, CODE, ["http://127.0.0.1/cb"], None),
    # The secret has characters Basic credentials must form-encode (RFC 6749 §2.3.1).
    "odd": ("harness-odd", CONF, CC, [], "DOT_SECRET_ODD"),
}


ODD_SECRET = "s:e%c r"


class Command(BaseCommand):
    help = "Create the harness's test user and client applications."

    def handle(self, *args, **options):
        User = get_user_model()
        user, _ = User.objects.get_or_create(username=os.environ.get("DOT_TEST_USER", "alice"))
        user.set_password(os.environ["DOT_TEST_PASSWORD"])
        user.save()
        for role, (client_id, kind, grant, uris, secret_var) in ROLES.items():
            app, _ = A.objects.get_or_create(client_id=client_id, defaults={"user": user})
            app.name = client_id
            app.user = user
            app.client_type = kind
            app.authorization_grant_type = grant
            app.redirect_uris = " ".join(uris)
            app.client_secret = (
                ODD_SECRET if role == "odd" else os.environ[secret_var] if secret_var else ""
            )
            app.hash_client_secret = True
            app.save()
            self.stdout.write(f"{role}: {client_id}")

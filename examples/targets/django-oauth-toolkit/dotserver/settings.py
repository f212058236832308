"""A django-oauth-toolkit authorization server for the harness's live example.

Configured as a careful deployment would be (DOT's RFC 9700 switches on, refresh-token
reuse detection on), with short lifetimes so that expiry can be observed in seconds. The
harness must find exactly the deviations listed in expected-failures.yaml, no more.
Every value that differs between runs comes from the environment that serve.sh sets.
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
STATE_DIR = Path(os.environ.get("DOT_STATE_DIR", BASE_DIR / ".state"))
PORT = int(os.environ.get("DOT_PORT", "8765"))

# A test server on loopback: the key only signs this server's sessions.
SECRET_KEY = os.environ.get("DOT_DJANGO_SECRET_KEY", "oauth-harness-example-only")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "oauth2_provider",
    "dotserver",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "dotserver.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": STATE_DIR / "db.sqlite3",
        # Scenarios run concurrently; SQLite serialises writers, so wait rather than fail.
        "OPTIONS": {"timeout": 30},
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
LOGIN_URL = "/accounts/login/"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}


def _seconds(name, default):
    return int(os.environ.get(name, default))


OAUTH2_PROVIDER = {
    # The conformance matrix's scope names; `api` is the default (RFC 6749 §3.3).
    "SCOPES": {
        "api": "Call the API",
        "read": "Read items",
        "admin": "Administer",
        "offline_access": "Stay signed in",
    },
    "DEFAULT_SCOPES": ["api"],
    # Short lifetimes, declared to the harness in profile.yaml (`lifetimes:`).
    "AUTHORIZATION_CODE_EXPIRE_SECONDS": _seconds("DOT_CODE_TTL", 4),
    "ACCESS_TOKEN_EXPIRE_SECONDS": _seconds("DOT_ACCESS_TOKEN_TTL", 20),
    "DEVICE_FLOW_INTERVAL": _seconds("DOT_DEVICE_INTERVAL", 1),
    # A refresh token dies this long after its access token expired, unless used: with
    # the access token's 20 s, an unused refresh token lives 22 s (REF-11).
    "REFRESH_TOKEN_EXPIRE_SECONDS": _seconds("DOT_REFRESH_EXTRA_TTL", 2),
    "OAUTH_DEVICE_VERIFICATION_URI": f"http://127.0.0.1:{PORT}/o/device/",
    # RFC 9700: rotate refresh tokens and revoke the family when one is replayed.
    "ROTATE_REFRESH_TOKEN": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    # A reuse window for rotated refresh tokens (off: 0); run.sh's third run sets one
    # and declares it to the harness (`--rt-reuse grace:3`, matrix §23 RACE-5…8).
    "REFRESH_TOKEN_GRACE_PERIOD_SECONDS": _seconds("DOT_REFRESH_GRACE", 0),
    # DOT's RFC 9700 behaviour switches, adopted as DOT's documentation advises.
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    # RFC 7591/7592 dynamic registration, open (RFC 7591 §3: an initial access token is
    # optional; REG-13).
    "DCR_ENABLED": True,
    "DCR_REGISTRATION_PERMISSION_CLASSES": ("oauth2_provider.dcr.AllowAllDCRPermission",),
    # RFC 8414 metadata: what this deployment offers.
    "OAUTH2_RESPONSE_TYPES_SUPPORTED": ["code"],
    "OAUTH2_GRANT_TYPES_SUPPORTED": [
        "authorization_code",
        "client_credentials",
        "refresh_token",
        "urn:ietf:params:oauth:grant-type:device_code",
    ],
}
OAUTH2_PROVIDER["SCOPES_BACKEND_CLASS"] = "dotserver.scopes.PerClientScopes"

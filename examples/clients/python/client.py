"""Python clients as subjects of `oauth-harness client`, written as their libraries'
documentation shows:

- `code`: Authlib's OAuth2Session (requests), the authorization code flow with PKCE on a
  loopback redirect (RFC 8252 §7.3): `create_authorization_url`, the browser, then
  `fetch_token(token_endpoint, authorization_response=…)` on the same session, as
  Authlib's "OAuth2Session for Authorization Code" shows a session "for reuse", and a
  call to the API with `client.get`;
- `device`: oauthlib's DeviceClient for the requests' bodies and the token response,
  with requests and the polling loop RFC 8628 §3.5 describes (oauthlib has no loop of its
  own): wait the interval, +5 s on slow_down, a poll that times out (10 s) doubles the
  interval, stop on any other error.

    python client.py device | code

Versions pinned in requirements.txt; run.sh makes the venv.
"""
import http.server
import os
import sys
import threading
import time
import webbrowser

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from oauthlib.oauth2 import DeviceClient, OAuth2Error

ENV = os.environ


def device():
    client = DeviceClient(ENV["OAUTH_HARNESS_CLIENT_ID"])
    r = requests.post(
        ENV["OAUTH_HARNESS_DEVICE_AUTHORIZATION_URL"],
        data={"client_id": client.client_id, "scope": "api"},
        timeout=10,
    )
    r.raise_for_status()
    auth = r.json()
    print(f"Open {auth['verification_uri']} and enter {auth['user_code']}", flush=True)
    interval = auth.get("interval", 5)  # RFC 8628 §3.2
    deadline = time.monotonic() + auth["expires_in"]
    while time.monotonic() + interval < deadline:
        time.sleep(interval)
        body = client.prepare_request_body(auth["device_code"], include_client_id=True)
        try:
            r = requests.post(
                ENV["OAUTH_HARNESS_TOKEN_URL"],
                data=body,
                headers={"Content-Type": "application/x-www-form-urlencoded"},
                timeout=10,
            )
        except requests.Timeout:
            interval *= 2  # RFC 8628 §3.5: lower the polling frequency
            continue
        try:
            token = client.parse_request_body_response(r.text)
        except OAuth2Error as e:
            if e.error == "authorization_pending":
                continue
            if e.error == "slow_down":
                interval += 5
                continue
            raise
        print(f"Authenticated (token type {token['token_type']}).")
        return
    raise SystemExit("The code expired before it was approved.")


class Callback(http.server.BaseHTTPRequestHandler):
    """The loopback redirect: keeps the first callback's URL."""

    url = None
    got = threading.Event()

    def do_GET(self):
        if not Callback.got.is_set():
            Callback.url = f"http://127.0.0.1:{self.server.server_port}{self.path}"
            Callback.got.set()
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"You may close this window.")

    def log_message(self, *args):
        pass


def code():
    listener = http.server.HTTPServer(("127.0.0.1", 0), Callback)
    threading.Thread(target=listener.serve_forever, daemon=True).start()
    redirect_uri = f"http://127.0.0.1:{listener.server_port}/cb"
    client = OAuth2Session(
        ENV["OAUTH_HARNESS_CLIENT_ID"],
        scope="api",
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
    )
    verifier = generate_token(48)
    uri, state = client.create_authorization_url(
        ENV["OAUTH_HARNESS_AUTHORIZATION_URL"], code_verifier=verifier
    )
    webbrowser.open(uri)
    if not Callback.got.wait(60):
        raise SystemExit("no callback")
    listener.shutdown()
    client.fetch_token(
        ENV["OAUTH_HARNESS_TOKEN_URL"],
        authorization_response=Callback.url,
        code_verifier=verifier,
    )
    r = client.get(ENV["OAUTH_HARNESS_API_URL"])
    r.raise_for_status()
    print("Authenticated; the API answered 200.")


if __name__ == "__main__":
    try:
        code() if sys.argv[1:2] == ["code"] else device()
    except (OAuth2Error, requests.RequestException) as e:
        print(f"Error: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)

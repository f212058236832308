#!/usr/bin/env python3
"""The test user, acting in django-oauth-toolkit's own pages (test use only).

    dot_user.py approve    BASE USER_CODE    # DOT's device page: enter the code, Accept
    dot_user.py deny       BASE USER_CODE    # ... Deny
    dot_user.py consent    URL DECISION      # the authorization page: Authorize or Cancel
    dot_user.py revoke-app BASE CLIENT_ID    # "revoke" every token of that app for the user

It signs in as DOT_TEST_USER with DOT_TEST_PASSWORD through the server's login page, then
submits DOT's forms as a browser would, so DOT decides everything. It speaks the
oauth-harness command-hook protocol (docs/scenarios.md, "Hooks"):

- exit 0: the hook did its work. `consent` prints the URL the server redirected the
  browser to, or `status NNN` when the server answered without redirecting (an error
  page). `approve`/`deny` print `status NNN` when DOT refused the user code.
- any other exit: the hook itself failed; the reason is on stderr.
"""

import html
import re
import sys
from urllib.parse import urljoin, urlsplit

import os

import requests

TIMEOUT = 10
HIDDEN = re.compile(r"<input\b[^>]*>", re.I)
ATTR = re.compile(r'(\w+)="([^"]*)"')


def fail(message):
    print(f"dot_user: {message}", file=sys.stderr)
    sys.exit(2)


def inputs(page):
    """The name/value pairs of a page's hidden inputs."""
    out = {}
    for tag in HIDDEN.findall(page):
        attrs = {k.lower(): html.unescape(v) for k, v in ATTR.findall(tag)}
        if attrs.get("type", "").lower() == "hidden" and "name" in attrs:
            out[attrs["name"]] = attrs.get("value", "")
    return out


def signed_in(base):
    """A session signed in as the test user."""
    s = requests.Session()
    login = urljoin(base + "/", "accounts/login/")
    page = s.get(login, timeout=TIMEOUT)
    if page.status_code != 200:
        fail(f"GET {login} answered {page.status_code}")
    form = inputs(page.text)
    form.update(
        username=os.environ.get("DOT_TEST_USER", "alice"),
        password=os.environ.get("DOT_TEST_PASSWORD") or fail("DOT_TEST_PASSWORD is not set"),
    )
    done = s.post(login, data=form, allow_redirects=False, timeout=TIMEOUT)
    if done.status_code not in (302, 303):
        fail(f"signing in at {login} answered {done.status_code} (wrong password?)")
    return s


def origin(url):
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def decide_device(base, user_code, action):
    s = signed_in(base)
    entry = urljoin(base + "/", "o/device/")
    page = s.get(entry, timeout=TIMEOUT)
    if page.status_code != 200:
        fail(f"GET {entry} answered {page.status_code}")
    form = inputs(page.text)
    form["user_code"] = user_code
    sent = s.post(entry, data=form, allow_redirects=False, timeout=TIMEOUT)
    if sent.status_code == 200:
        # DOT shows the form again with the reason: unknown, expired or used code.
        print("status 400")
        return
    if sent.status_code not in (302, 303):
        fail(f"POST {entry} answered {sent.status_code}")
    confirm = urljoin(entry, sent.headers["Location"])
    page = s.get(confirm, timeout=TIMEOUT)
    if page.status_code != 200:
        print(f"status {page.status_code}")
        return
    form = inputs(page.text)
    form["action"] = action
    done = s.post(confirm, data=form, allow_redirects=False, timeout=TIMEOUT)
    if done.status_code not in (302, 303):
        fail(f"POST {confirm} answered {done.status_code}")


def consent(url, decision):
    s = signed_in(origin(url))
    page = s.get(url, allow_redirects=False, timeout=TIMEOUT)
    if page.status_code in (301, 302, 303, 307, 308):
        print(urljoin(url, page.headers["Location"]))
        return
    if page.status_code != 200 or 'id="authorizationForm"' not in page.text:
        print(f"status {page.status_code}")
        return
    form = inputs(page.text)
    if decision == "approve":
        form["allow"] = "Authorize"
    done = s.post(url, data=form, allow_redirects=False, timeout=TIMEOUT)
    if done.status_code in (301, 302, 303, 307, 308):
        print(urljoin(url, done.headers["Location"]))
    else:
        print(f"status {done.status_code}")


def revoke_app(base, client_id):
    s = signed_in(base)
    listing = urljoin(base + "/", "o/authorized_tokens/")
    page = s.get(listing, timeout=TIMEOUT)
    if page.status_code != 200:
        fail(f"GET {listing} answered {page.status_code}")
    # Applications are named after their client ids (harness_setup); one entry per token.
    links = re.findall(
        r"<li>\s*" + re.escape(client_id) + r'\s*\(<a href="([^"]+)"', page.text
    )
    for link in links:
        target = urljoin(listing, html.unescape(link))
        form = inputs(s.get(target, timeout=TIMEOUT).text)
        done = s.post(target, data=form, allow_redirects=False, timeout=TIMEOUT)
        if done.status_code not in (302, 303):
            fail(f"POST {target} answered {done.status_code}")


def main(argv):
    if len(argv) != 3:
        fail(__doc__)
    command, a, b = argv
    if command in ("approve", "deny"):
        decide_device(a.rstrip("/"), b, "accept" if command == "approve" else "deny")
    elif command == "consent":
        consent(a, b)
    elif command == "revoke-app":
        revoke_app(a.rstrip("/"), b)
    else:
        fail(f"unknown command {command}")


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except requests.RequestException as e:
        fail(f"request failed: {e}")

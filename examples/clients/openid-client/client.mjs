// openid-client 6 (npm, panva's; pinned in package-lock.json) as a subject of
// `oauth-harness client`: its device flow and its authorization code flow with PKCE on a
// loopback redirect, written as its README and docs show.
//
//   node client.mjs device | code
//
// Pointing it at the harness's builtin takes two options, both documented by openid-client:
// `algorithm: 'oauth2'` (the builtin publishes RFC 8414 metadata at
// /.well-known/oauth-authorization-server, not OpenID Connect discovery) and
// `allowInsecureRequests` (the builtin listens on plain-HTTP loopback). Everything else
// is the library's defaults: its own timers (the harness judges its device flow at real
// time), its 30-s request timeout, its `state` and PKCE checks.
//
// When the harness sets OAUTH_HARNESS_DPOP=1 (a scenario whose server demands DPoP, run
// with `client --dpop`), every token request and API call goes with a DPoP handle, as
// openid-client's docs show: `getDPoPHandle(config, await randomDPoPKeyPair())`, passed
// as the `DPoP` option; the library retries once on `use_dpop_nonce` by itself.
import * as client from 'openid-client';
import { createServer } from 'node:http';
import { spawn } from 'node:child_process';

const env = process.env;
const config = await client.discovery(
  new URL(env.OAUTH_HARNESS_BASE_URL),
  env.OAUTH_HARNESS_CLIENT_ID,
  undefined,
  client.None(), // a public client: client_id in the body, no secret
  { algorithm: 'oauth2', execute: [client.allowInsecureRequests] },
);

const DPoP = env.OAUTH_HARNESS_DPOP === '1'
  ? client.getDPoPHandle(config, await client.randomDPoPKeyPair())
  : undefined;

async function device() {
  const response = await client.initiateDeviceAuthorization(config, { scope: 'api' });
  console.log(`Open ${response.verification_uri} and enter ${response.user_code}`);
  const tokens = await client.pollDeviceAuthorizationGrant(config, response, undefined, { DPoP });
  console.log(`Authenticated (token type ${tokens.token_type}).`);
}

// The loopback redirect (RFC 8252 §7.3): a listener on a free port, the authorization URL
// opened in $BROWSER, the callback handed to openid-client with the checks it must pass.
async function code() {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const server = createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const redirect_uri = `http://127.0.0.1:${server.address().port}/cb`;
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri,
    scope: 'api',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
  });
  const callback = new Promise((resolve) => {
    server.on('request', (req, res) => {
      res.end('You may close this window.');
      resolve(new URL(req.url, redirect_uri));
    });
  });
  if (env.BROWSER) spawn(env.BROWSER, [url.href], { stdio: 'inherit' });
  else console.log(`Open ${url.href}`);
  const current = await callback;
  server.close();
  const tokens = await client.authorizationCodeGrant(
    config,
    current,
    { pkceCodeVerifier: verifier, expectedState: state },
    undefined,
    { DPoP },
  );
  const api = await client.fetchProtectedResource(
    config,
    tokens.access_token,
    new URL(env.OAUTH_HARNESS_API_URL),
    'GET',
    undefined,
    undefined,
    { DPoP },
  );
  if (!api.ok) throw new Error(`the API answered ${api.status}`);
  console.log('Authenticated; the API answered 200.');
}

try {
  await (process.argv[2] === 'code' ? code() : device());
} catch (e) {
  console.error(`Error: ${e.code ?? ''} ${e.error ?? ''} ${e.message}`);
  process.exit(1);
}

// panva's oidc-provider (pinned in package-lock.json) as an OAuth 2.0 server for the
// suite, on 127.0.0.1:$OP_PORT. Nothing here plays the user: oidc-provider's own
// development sign-in and consent pages (devInteractions) and its device verification
// page are driven by the form recipes in profile.yaml. Short lifetimes let the expiry
// scenarios wait them out. Clients are registered by the harness (RFC 7591, open
// registration) at the start of each run and deleted after it (RFC 7592).
import crypto from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number(process.env.OP_PORT || 3000);
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  // The suite's scopes (profile.yaml `scopes:`), beside OpenID Connect's.
  scopes: ['openid', 'offline_access', 'api', 'read', 'admin'],
  features: {
    devInteractions: { enabled: true },
    deviceFlow: { enabled: true },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    registration: { enabled: true },
    registrationManagement: { enabled: true },
    // DPoP is on by default; with OP_DPOP_NONCE=1 (run.sh's third run) every proof must
    // carry a server nonce (RFC 9449 §8), the secret drawn at start.
    ...(process.env.OP_DPOP_NONCE === '1'
      ? { dPoP: { enabled: true, nonceSecret: crypto.randomBytes(32), requireNonce: () => true } }
      : {}),
  },
  // Refresh tokens for the grant types that may have them, as RFC 6749 §1.5 leaves it to
  // the server; oidc-provider's default asks for `offline_access` as well.
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  ttl: {
    AccessToken: 20,
    AuthorizationCode: 4,
    ClientCredentials: 20,
    DeviceCode: 15,
    Grant: 600,
    IdToken: 60,
    Interaction: 600,
    RefreshToken: 22,
    Session: 600,
  },
  // The harness publishes the pkj-uri role's key on 127.0.0.1 (its jwks_uri, RFC 7591
  // §2). oidc-provider's outgoing requests refuse special-use addresses, loopback
  // included (lib/helpers/fetch_request.js: "hostname resolves to a special-use IP
  // address"), a defence for a server on the internet; this local development server
  // lets its fetch reach the loopback interface, and nothing else changes.
  fetch: (url, options) => {
    const { dispatcher, ...rest } = options;
    return globalThis.fetch(url, rest);
  },
  // Plain-HTTP loopback: tell oidc-provider so (it is a development server here).
  cookies: { keys: ['oauth-harness-example-only'] },
});
provider.proxy = false;

provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider ${issuer} ready`);
});

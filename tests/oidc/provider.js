// A real OpenID Connect provider (panva's certified oidc-provider) on 127.0.0.1, for the
// single sign-on tests. Configured by the environment:
//
//   OIDC_PORT           port to listen on (127.0.0.1 only)
//   OIDC_CLIENT_ID      the dashboard's client id
//   OIDC_CLIENT_SECRET  its secret (client_secret_basic / client_secret_post)
//   OIDC_REDIRECT_URI   the dashboard's callback (several: separated by spaces)
//   OIDC_USERS          JSON {"login": {"password": "...", "email": "...", "groups": ["..."]}, ...}
//
// The sign-in form is a plain HTML form that checks the password; consent is granted for the
// client (a first-party application). PKCE is required for every authorization request.
//
// For tests of what the dashboard must refuse, `POST /__test/mode?set=MODE` changes the ID
// token the token endpoint returns, re-signed with the provider's own published key:
//   normal      as issued
//   expired     exp and iat an hour in the past
//   wrong-aud   aud is another client
//   multi-aud   aud is [client, another] without azp
//   bad-sig     signed with a key that is not published (same kid)
// `POST /__test/person?login=LOGIN` with the form field `person` (JSON, as in OIDC_USERS) adds or
// changes a person (their groups, say). It prints "ready <issuer>" on stdout once it listens.

import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';

import { SignJWT, decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';

const port = Number(process.env.OIDC_PORT || '0');
const clientId = process.env.OIDC_CLIENT_ID || 'auditdash';
const clientSecret = process.env.OIDC_CLIENT_SECRET || 'auditdash-test-secret';
const redirectUris = (process.env.OIDC_REDIRECT_URI || '').split(/\s+/).filter(Boolean);
const people = JSON.parse(process.env.OIDC_USERS || '{}');
const issuer = `http://127.0.0.1:${port}`;

const KID = 'test-signing-key';
const signing = await generateKeyPair('RS256', { extractable: true });
const rogue = await generateKeyPair('RS256', { extractable: true });
const signingJwk = { ...(await exportJWK(signing.privateKey)), kid: KID, alg: 'RS256', use: 'sig' };

let mode = 'normal';

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

async function findAccount(ctx, id) {
  const person = people[id];
  if (!person) return undefined;
  return {
    accountId: id,
    async claims() {
      return {
        sub: person.sub || `sub-${id}`,
        email: person.email || `${id}@example.test`,
        email_verified: true,
        preferred_username: person.preferred_username || id,
        name: person.name || id,
        groups: person.groups || [],
      };
    },
  };
}

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: redirectUris,
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  jwks: { keys: [signingJwk] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  findAccount,
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['preferred_username', 'name'],
    groups: ['groups'],
  },
  scopes: ['openid', 'email', 'profile', 'groups'],
  // the groups claim goes into the ID token, as Okta, Entra ID and Keycloak can be set up to do
  conformIdTokenClaims: false,
  pkce: { methods: ['S256'], required: () => true },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope('openid email profile groups');
    await grant.save();
    return grant;
  },
  renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = `<!DOCTYPE html><title>Error</title><h1 id="op-error">${escapeHtml(out.error)}</h1><p>${escapeHtml(out.error_description || '')}</p>`;
  },
});

function loginPage(uid, error) {
  return `<!DOCTYPE html><html><head><meta charset="utf-8"><title>Test identity provider</title></head><body>
<h1>Test identity provider</h1>${error ? `<p id="op-login-error">${escapeHtml(error)}</p>` : ''}
<form method="post" action="/interaction/${escapeHtml(uid)}/login" id="op-login-form">
<label>Login <input name="login" id="op-login" autocomplete="off"></label>
<label>Password <input name="password" id="op-password" type="password"></label>
<button type="submit" id="op-submit">Sign in</button></form></body></html>`;
}

async function readForm(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

async function reshape(idToken) {
  const claims = decodeJwt(idToken);
  const header = decodeProtectedHeader(idToken);
  const now = Math.floor(Date.now() / 1000);
  let key = signing.privateKey;
  if (mode === 'expired') {
    claims.iat = now - 7200;
    claims.exp = now - 3600;
  } else if (mode === 'wrong-aud') {
    claims.aud = 'another-client';
    delete claims.azp;
  } else if (mode === 'multi-aud') {
    claims.aud = [clientId, 'another-client'];
    delete claims.azp;
  } else if (mode === 'bad-sig') {
    key = rogue.privateKey;
  } else {
    return idToken;
  }
  return new SignJWT(claims).setProtectedHeader({ alg: header.alg, kid: header.kid, typ: header.typ }).sign(key);
}

provider.use(async (ctx, next) => {
  if (ctx.path === '/__test/mode' && ctx.method === 'POST') {
    mode = ctx.query.set || 'normal';
    ctx.body = { mode };
    return;
  }
  if (ctx.path === '/__test/person' && ctx.method === 'POST') {
    const login = String(ctx.query.login || '');
    const form = await readForm(ctx.req);
    people[login] = JSON.parse(form.get('person') || '{}');
    ctx.body = { login };
    return;
  }
  const interaction = ctx.path.match(/^\/interaction\/([^/]+)(\/login)?$/);
  if (interaction) {
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    ctx.set('Cache-Control', 'no-store');
    if (ctx.method === 'GET') {
      ctx.type = 'html';
      ctx.body = loginPage(details.uid);
      return;
    }
    const form = await readForm(ctx.req);
    const login = form.get('login') || '';
    const person = people[login];
    if (!person || person.password !== form.get('password')) {
      ctx.type = 'html';
      ctx.status = 401;
      ctx.body = loginPage(details.uid, 'Wrong login or password.');
      return;
    }
    await provider.interactionFinished(ctx.req, ctx.res, { login: { accountId: login } }, { mergeWithLastSubmission: false });
    return;
  }
  await next();
  if (ctx.path === '/token' && ctx.method === 'POST' && ctx.status === 200 && ctx.body?.id_token) {
    ctx.body = { ...ctx.body, id_token: await reshape(ctx.body.id_token) };
  }
});

const server = createServer(provider.callback());
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`ready ${issuer}\n`);
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}

// A real OpenID Connect provider for the tests (the certified `oidc-provider` package), on a loopback port.
//
//   node provider.mjs CONFIG.json
//
// CONFIG.json: {"port": N, "client_id": ..., "client_secret": ..., "redirect_uri": ...,
//               "accounts": {"login": {"email": ..., "email_verified": true, "preferred_username": ...}}}
// Its development sign-in page takes any listed login (any password); its consent page asks once per client.
// The code flow requires PKCE (S256). Prints "listening ISSUER" once it answers.
import { readFileSync } from "node:fs";
import Provider from "oidc-provider";

const config = JSON.parse(readFileSync(process.argv[2], "utf8"));
const issuer = `http://127.0.0.1:${config.port}`;

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: config.client_id,
      client_secret: config.client_secret,
      redirect_uris: [config.redirect_uri],
      grant_types: ["authorization_code"],
      response_types: ["code"],
      token_endpoint_auth_method: "client_secret_basic",
    },
  ],
  pkce: { required: () => true },
  claims: {
    openid: ["sub"],
    email: ["email", "email_verified"],
    profile: ["name", "preferred_username"],
  },
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ["portus-test-oidc-cookie-key"] },
  async findAccount(ctx, id) {
    const account = config.accounts[id];
    if (!account) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, ...account };
      },
    };
  },
});

provider.listen(config.port, "127.0.0.1", () => {
  console.log(`listening ${issuer}`);
});

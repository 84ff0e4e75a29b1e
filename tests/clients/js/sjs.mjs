// sjs: signs and verifies with the published sigstore-js packages, for Sigstack's end-to-end
// tests (sigstore-conformance argument style).
//
//   node sjs.mjs sign-bundle --identity-token T --bundle OUT --signing-config SC [--in-toto] FILE
//   node sjs.mjs verify-bundle --bundle B --certificate-identity ID --certificate-oidc-issuer ISS --trusted-root TR FILE
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { bundleBuilderFromSigningConfig } = require('@sigstore/sign');
const { Verifier, toSignedEntity, toTrustMaterial } = require('@sigstore/verify');
const { bundleFromJSON, bundleToJSON } = require('@sigstore/bundle');
const { SigningConfig, TrustedRoot } = require('@sigstore/protobuf-specs');

function parse(argv) {
  const flags = {};
  let inToto = false;
  for (let i = 0; i < argv.length - 1; i++) {
    if (argv[i] === '--in-toto') {
      inToto = true;
    } else if (argv[i].startsWith('--')) {
      flags[argv[i].slice(2)] = argv[++i];
    } else {
      throw new Error(`unexpected argument ${argv[i]}`);
    }
  }
  return { flags, inToto, file: argv[argv.length - 1] };
}

function required(flags, name) {
  if (flags[name] === undefined) throw new Error(`--${name} is required`);
  return flags[name];
}

async function sign({ flags, inToto, file }) {
  const token = required(flags, 'identity-token');
  const signingConfig = SigningConfig.fromJSON(JSON.parse(readFileSync(required(flags, 'signing-config'), 'utf8')));
  const builder = bundleBuilderFromSigningConfig({
    signingConfig,
    identityProvider: { getToken: async () => token },
    bundleType: inToto ? 'dsseEnvelope' : 'messageSignature',
    fetchOptions: { timeout: 30000, retry: 0 },
  });
  const data = readFileSync(file);
  const artifact = inToto ? { data, type: 'application/vnd.in-toto+json' } : { data };
  const bundle = await builder.create(artifact);
  writeFileSync(required(flags, 'bundle'), JSON.stringify(bundleToJSON(bundle)));
}

function verify({ flags, file }) {
  const trustedRoot = TrustedRoot.fromJSON(JSON.parse(readFileSync(required(flags, 'trusted-root'), 'utf8')));
  const bundle = bundleFromJSON(JSON.parse(readFileSync(required(flags, 'bundle'), 'utf8')));
  const data = readFileSync(file);
  const verifier = new Verifier(toTrustMaterial(trustedRoot));
  verifier.verify(toSignedEntity(bundle, data), {
    subjectAlternativeName: required(flags, 'certificate-identity'),
    extensions: { issuer: required(flags, 'certificate-oidc-issuer') },
  });
  if (bundle.content.$case === 'dsseEnvelope') {
    // @sigstore/verify does not match in-toto subjects to the artifact: do it here.
    const statement = JSON.parse(Buffer.from(bundle.content.dsseEnvelope.payload).toString('utf8'));
    const digest = createHash('sha256').update(data).digest('hex');
    const subjects = statement.subject || [];
    if (!subjects.some((s) => s.digest && s.digest.sha256 === digest)) {
      throw new Error('no in-toto subject matches the artifact digest');
    }
  }
  console.log(`OK: ${file}`);
}

const [cmd, ...rest] = process.argv.slice(2);
try {
  const args = parse(rest);
  if (cmd === 'sign-bundle') await sign(args);
  else if (cmd === 'verify-bundle') verify(args);
  else throw new Error(`unknown command ${cmd}`);
} catch (e) {
  console.error(`error: ${e && e.message ? e.message : e}`);
  process.exit(1);
}

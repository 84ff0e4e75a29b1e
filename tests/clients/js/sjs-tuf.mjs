// sjs-tuf: verifies a bundle with the published sigstore-js package, learning the trusted root
// from a TUF repository (mirror URL + bootstrap root.json), for Sigstack's end-to-end tests.
//
//   node sjs-tuf.mjs --tuf-mirror-url URL --tuf-root ROOT --tuf-cache DIR --bundle B \
//       --certificate-identity EMAIL --certificate-oidc-issuer ISS FILE
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const sigstore = require('sigstore');

const argv = process.argv.slice(2);
const flags = {};
for (let i = 0; i < argv.length - 1; i += 2) {
  if (!argv[i].startsWith('--')) throw new Error(`unexpected argument ${argv[i]}`);
  flags[argv[i].slice(2)] = argv[i + 1];
}
const file = argv[argv.length - 1];

try {
  const bundle = JSON.parse(readFileSync(flags['bundle'], 'utf8'));
  await sigstore.verify(bundle, readFileSync(file), {
    tufMirrorURL: flags['tuf-mirror-url'],
    tufRootPath: flags['tuf-root'],
    tufCachePath: flags['tuf-cache'],
    certificateIdentityEmail: flags['certificate-identity'],
    certificateIssuer: flags['certificate-oidc-issuer'],
  });
  console.log(`OK: ${file}`);
} catch (e) {
  console.error(`error: ${e && e.message ? e.message : e}`);
  process.exit(1);
}

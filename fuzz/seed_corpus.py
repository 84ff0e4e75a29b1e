#!/usr/bin/env python3
"""Write the seed corpora in fuzz/corpus/<target>/ from the public test vectors.

Sources: /work/shared/vectors (see its README.md; override with SIGSTACK_VECTORS) and the
test data already in the repository (crates/tsp/tests/data, crates/fulcio-core/tests/data).
Every seed is a small file (the largest is one certificate). Run from anywhere:

    python3 fuzz/seed_corpus.py

Existing seed directories are replaced.
"""

import base64
import hashlib
import json
import os
import pathlib
import shutil
import struct

FUZZ = pathlib.Path(__file__).resolve().parent
REPO = FUZZ.parent
VECTORS = pathlib.Path(os.environ.get("SIGSTACK_VECTORS", "/work/shared/vectors"))
CORPUS = FUZZ / "corpus"
TSP_DATA = REPO / "crates/tsp/tests/data"
FULCIO_DATA = REPO / "crates/fulcio-core/tests/data"

seeds = {}


def add(target, name, data):
    if isinstance(data, str):
        data = data.encode()
    seeds.setdefault(target, {})[name] = data


def vector(name):
    return json.loads((VECTORS / name).read_text())


def pem_to_der(pem):
    body = "".join(l for l in pem.strip().splitlines() if not l.startswith("-----"))
    return base64.b64decode(body)


def pem_blocks(text):
    blocks, cur = [], []
    for line in text.splitlines():
        cur.append(line)
        if line.startswith("-----END"):
            blocks.append("\n".join(cur) + "\n")
            cur = []
    return blocks


def der_tlv(data, offset=0):
    """(header length, content length) of the DER element at offset."""
    first = data[offset + 1]
    if first < 0x80:
        return 2, first
    n = first & 0x7F
    return 2 + n, int.from_bytes(data[offset + 2 : offset + 2 + n], "big")


def tbs_of(cert_der):
    hdr, _ = der_tlv(cert_der)
    thdr, tlen = der_tlv(cert_der, hdr)
    return cert_der[hdr : hdr + thdr + tlen]


def u16(n):
    return struct.pack(">H", n)


# --- signed notes and checkpoints ------------------------------------------------------------
notes = vector("signed-note.json")
for i, case in enumerate(notes["notes_to_verify"]):
    add("signed_note", f"xmod-{i}", case["note"])
for i, note in enumerate(notes["malformed_notes_x_mod"]["cases"]):
    add("signed_note", f"xmod-malformed-{i}", note)
for case in notes["format_only_examples_no_vkey"]:
    add("signed_note", case["id"], case["note"])
    text = case["note"].rsplit("\n\n", 1)[0] + "\n"
    if "checkpoint" in case["id"]:
        add("checkpoint", case["id"], text)
for name, vkey in notes["vkeys"].items():
    add("signed_note", "vkey-" + name.replace("/", "_"), vkey)
for i, case in enumerate(notes["bad_vkeys_x_mod"]["cases"]):
    add("signed_note", f"bad-vkey-{i}", case["vkey"])
add("checkpoint", "sumdb-tree", notes["sumdb_tree_note_body"]["text"])

rekor = vector("rekor-v1-entry.json")
staging = next(iter(rekor["staging_response"]["response"].values()))
staging_cp = staging["verification"]["inclusionProof"]["checkpoint"]
prod_cp = rekor["production_entry"]["bundle_tlog_entry_verbatim"]["inclusionProof"]["checkpoint"][
    "envelope"
]
for name, cp in [("rekor-staging", staging_cp), ("rekor-production", prod_cp)]:
    add("signed_note", name, cp)
    add("checkpoint", name, cp.split("\n\n", 1)[0] + "\n")
add("checkpoint", "empty-tree", "example.com/log\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n")

# --- tiles --------------------------------------------------------------------------------------
tiles = vector("tlog-tiles-paths.json")["c2sp_tlog_tiles"]
paths = set()
for section in ("tile_path", "entries_path", "entries_path_for_log_index"):
    for case in tiles.get(section, []):
        paths.add(case["path"])
for case in tiles.get("spec_examples", []):
    paths.update(case.get("derived_paths_not_upstream", {}).values())
for i, p in enumerate(sorted(paths)):
    add("tile_path", f"path-{i}", p)
add("tile_path", "bundle-3", u16(3) + b"abc" + u16(0) + u16(5) + b"hello")
add("tile_path", "addresses", bytes(range(27)))

# --- merkle (raw bytes: sizes, indexes, hashes) -----------------------------------------------
add("merkle", "zeros", bytes(200))
add("merkle", "counting", bytes(i % 256 for i in range(300)))

# --- public keys --------------------------------------------------------------------------------
fulcio = vector("fulcio-github-cert.json")
for name, pem in [
    ("rekor-staging", rekor["staging_response"]["rekor_public_key_pem"]),
    ("rekor-production", rekor["production_entry"]["rekor_public_key_pem"]),
    ("ctfe-2022", fulcio["embedded_sct"]["log_public_key_pem"]),
]:
    add("public_key", name + ".pem", pem)
    add("public_key", name + ".der", pem_to_der(pem))
for f in ("secp256k1-public-key.pem", "rsa2048-public-key.pem"):
    add("public_key", f, (FULCIO_DATA / f).read_bytes())
# Ed25519 SPKI of the PeterNeumann vkey.
raw = base64.b64decode(notes["vkeys"]["PeterNeumann"].split("+", 2)[2])[1:]
add("public_key", "ed25519.der", bytes.fromhex("302a300506032b6570032100") + raw)

# --- CT -----------------------------------------------------------------------------------------
sct_list = base64.b64decode(fulcio["embedded_sct"]["sct_list_tls_b64"])
first = sct_list[2 : 4 + int.from_bytes(sct_list[2:4], "big")][2:]
add("sct", "ctfe-2022-sct", first)
sig = base64.b64decode(fulcio["embedded_sct"]["signature_b64"])
add("sct", "digitally-signed", bytes([4, 3]) + u16(len(sig)) + sig)
ikh = bytes.fromhex(fulcio["embedded_sct"]["issuer_key_hash_hex"])
leaf = bytes([0, 0]) + struct.pack(">Q", fulcio["embedded_sct"]["timestamp_ms"]) + u16(1) + ikh
add("sct", "precert-leaf", leaf + b"\x00\x00\x02\x30\x00" + u16(0))
add("sct", "x509-leaf", bytes([0, 0]) + bytes(8) + u16(0) + b"\x00\x00\x02\x30\x00" + u16(0))

cert = pem_to_der((VECTORS / "fulcio-github-cert.pem").read_text())
add("ct_x509", "fulcio-github-cert", cert)
add("ct_x509", "fulcio-github-tbs", tbs_of(cert))
for i, block in enumerate(pem_blocks((TSP_DATA / "sigstage-chain.pem").read_text())):
    der = pem_to_der(block)
    add("ct_x509", f"sigstage-tsa-{i}", der)
    add("ct_x509", f"sigstage-tsa-tbs-{i}", tbs_of(der))

# --- RFC 3161 -----------------------------------------------------------------------------------
tsp = vector("rfc3161.json")
add("timestamp_query", "request-sha512-nonce-certreq", bytes.fromhex(tsp["pair"]["timestamp_req_der_hex"]))
for f in ("local-tsa-response-granted.tsr", "sigstage-response-sha256-hello.tsr"):
    add("timestamp_query", f, (TSP_DATA / f).read_bytes())
# SHA-256 request without nonce or certReq.
imprint = b"\x30\x31\x30\x0d\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x01\x05\x00\x04\x20"
req = b"\x02\x01\x01" + imprint + hashlib.sha256(b"hello").digest()
add("timestamp_query", "request-sha256", b"\x30" + bytes([len(req)]) + req)

# --- Rekor --------------------------------------------------------------------------------------
for name, entry in [("staging", rekor["staging_response"]), ("production", rekor["production_entry"])]:
    add("rekor_v1_entry", f"hashedrekord-{name}", json.dumps(entry["decoded_body"]))
add("rekor_v1_entry", "dsse-shape", json.dumps({"apiVersion": "0.0.1", "kind": "dsse", "spec": {
    "proposedContent": {"envelope": "{\"payload\":\"aGk=\",\"payloadType\":\"t\",\"signatures\":[{\"sig\":\"AA==\"}]}",
                        "verifiers": ["AA=="]}}}))
add("rekor_v1_entry", "intoto-shape", json.dumps({"apiVersion": "0.0.2", "kind": "intoto", "spec": {"content": {
    "envelope": {"payload": "YUdrPQ==", "payloadType": "t", "signatures": [{"sig": "QUE9PQ==", "publicKey": "AA=="}]},
    "hash": {"algorithm": "sha256", "value": "00" * 32}}}}))
for mode in range(3):
    add("rekor_v1_entry", f"signed-mode-{mode}", bytes([mode]) + bytes(range(1, 64)))

body = rekor["production_entry"]["decoded_body"]["spec"]
cert_pem = base64.b64decode(body["signature"]["publicKey"]["content"]).decode()
v2 = {"hashedRekordRequestV002": {
    "digest": base64.b64encode(bytes.fromhex(body["data"]["hash"]["value"])).decode(),
    "signature": {"content": body["signature"]["content"], "verifier": {
        "x509Certificate": {"rawBytes": base64.b64encode(pem_to_der(cert_pem)).decode()},
        "keyDetails": "PKIX_ECDSA_P256_SHA_256"}}}}
add("rekor_v2_request", "hashedrekord-production", json.dumps(v2))
add("rekor_v2_request", "dsse-shape", json.dumps({"dsseRequestV002": {
    "envelope": {"payload": "aGk=", "payloadType": "t", "signatures": [{"sig": "AA==", "keyid": ""}]},
    "verifiers": [{"publicKey": {"rawBytes": base64.b64encode(pem_to_der(rekor["production_entry"]["rekor_public_key_pem"])).decode()},
                   "keyDetails": "PKIX_ECDSA_P256_SHA_256"}]}}))
for mode in range(2):
    add("rekor_v2_request", f"signed-mode-{mode}", bytes([mode]) + bytes(range(1, 64)))

# --- Fulcio -------------------------------------------------------------------------------------
for f in sorted(FULCIO_DATA.glob("*csr.pem")):
    add("fulcio_pop", f.stem, base64.b64encode(f.read_bytes()))
add("fulcio_pop", "public-key-request",
    rekor["production_entry"]["rekor_public_key_pem"] + "\0AAAA\0alice@example.com")
for mode in range(2):
    add("fulcio_pop", f"signed-mode-{mode}", bytes([mode]) + bytes(range(1, 40)))

add("fulcio_config", "config.yaml", """oidc-issuers:
  https://accounts.example.com:
    client-id: sigstore
    type: email
  https://uri.example.com:
    client-id: sigstore
    type: uri
    subject-domain: https://example.com
meta-issuers:
  https://*.example.com/*:
    client-id: sigstore
    type: ci-provider
    ci-provider: my-ci
ci-issuer-metadata:
  my-ci:
    default-template-values: {url: "https://ci.example"}
    extension-templates:
      build-signer-uri: "{{ .url }}/{{ .workflow }}"
      source-repository-ref: ref
    subject-alternative-name-template: "{{ .url }}/{{ .workflow }}"
""")
add("fulcio_config", "config.json", json.dumps({"OIDCIssuers": {"https://accounts.example.com": {
    "IssuerURL": "https://accounts.example.com", "ClientID": "sigstore", "Type": "email"}}}))
add("fulcio_config", "ci-issuer-metadata", (REPO / "crates/fulcio-core/src/ci-issuer-metadata.yaml").read_bytes())
add("fulcio_config", "template-if", '{{ if eq .event_name "push" }}{{ .ref }}{{ else }}{{ index . "x/y" }}{{ end }}')
add("fulcio_config", "template-trim", "{{- .url -}} / {{ .repository }}{{/* c */}}")
add("fulcio_config", "claim-path", "$.federated_claims.connector_id")
add("fulcio_config", "pattern", "https://*.example.com/*\nhttps://a-b.example.com/c_d")

add("fulcio_claims", "github-actions", (FULCIO_DATA / "github-actions-release-claims.json").read_bytes())
add("fulcio_claims", "email", json.dumps({"sub": "1234", "email": "alice@example.com", "email_verified": True,
                                          "federated_claims": {"connector_id": "https://github.com/login/oauth"}}))
add("fulcio_claims", "uri", json.dumps({"sub": "https://example.com/users/alice"}))
add("fulcio_claims", "gitlab", json.dumps({"sub": "project_path:group/project:ref_type:branch:ref:main",
    "project_path": "group/project", "ci_config_ref_uri": "gitlab.com/group/project//.gitlab-ci.yml@refs/heads/main",
    "ref": "main", "ref_type": "branch", "pipeline_source": "push", "project_id": "42", "namespace_path": "group",
    "sha": "0" * 40, "ci_config_sha": "0" * 40, "runner_environment": "gitlab-hosted", "pipeline_id": "7"}))

# --- write --------------------------------------------------------------------------------------
for target, files in sorted(seeds.items()):
    out = CORPUS / target
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for name, data in files.items():
        assert len(data) <= 8192, (target, name, len(data))
        (out / name).write_bytes(data)
    print(f"{target}: {len(files)} seeds")

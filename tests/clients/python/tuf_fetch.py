"""Fetch the Sigstore targets from a TUF repository with python-tuf's ngclient.

Used by Sigstack's end-to-end tests as an independent TUF client:

    python tuf_fetch.py --metadata-url URL --root ROOT.json --cache DIR --out DIR

The first run bootstraps the trusted root from ROOT.json; later runs with the same --cache
continue from the cached (possibly rotated) root, as a long-lived client does. Writes the
verified `trusted_root.json` and `signing_config.v0.2.json` into --out and prints the trusted
root version. Exits 1 with the ngclient error when the repository is refused.
"""

import argparse
import os
import shutil
import sys

from tuf.ngclient import Updater

TARGETS = ("trusted_root.json", "signing_config.v0.2.json")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--metadata-url", required=True)
    parser.add_argument("--root", required=True)
    parser.add_argument("--cache", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    metadata_dir = os.path.join(args.cache, "metadata")
    targets_dir = os.path.join(args.cache, "targets")
    os.makedirs(metadata_dir, exist_ok=True)
    os.makedirs(targets_dir, exist_ok=True)
    os.makedirs(args.out, exist_ok=True)
    trusted = os.path.join(metadata_dir, "root.json")
    if not os.path.exists(trusted):
        shutil.copyfile(args.root, trusted)

    base = args.metadata_url.rstrip("/")
    try:
        updater = Updater(
            metadata_dir=metadata_dir,
            metadata_base_url=base + "/",
            target_base_url=base + "/targets/",
            target_dir=targets_dir,
            bootstrap=None,
        )
        updater.refresh()
        for name in TARGETS:
            info = updater.get_targetinfo(name)
            if info is None:
                raise RuntimeError(f"target {name} is not listed")
            path = updater.download_target(info, filepath=os.path.join(args.out, name))
            print(f"fetched {path}")
        print(f"root version {updater._trusted_set.root.version}")
    except Exception as e:  # noqa: BLE001 - report any refusal to the test
        print(f"error: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

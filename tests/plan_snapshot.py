"""Plans as golden files: what `mlops preview --json` gives, minus what may legitimately move.

The training code's content digest and its per-file objects change whenever a file of
``training/`` changes; everything else in a plan (every resource, its inputs, the pipeline
definition, the outputs) changing is a change users' live stacks would see on `pulumi up`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

SNAPSHOT_DIR = Path(__file__).parent / "fixtures" / "plans"
REPO_ROOT = Path(__file__).resolve().parent.parent
"""Files of the repository in a plan (the deployer's code asset) are named relative to it."""
BUCKET_OBJECT = "aws:s3/bucketObjectv2:BucketObjectv2"
_CODE_KEY = re.compile(r"code/[^/]+/([0-9a-f]{16})/")


def normalise(plan: dict[str, Any]) -> dict[str, Any]:
    """The plan with the code digest as ``<code-digest>``, the checkout as ``<repo>``, without
    per-file code objects, and its resources in URN order (registration order depends on
    Output timing)."""
    digests = {match.group(1) for resource in plan["resources"]
               if resource["type"] == BUCKET_OBJECT
               for match in [_CODE_KEY.search(resource["inputs"].get("key", ""))] if match}
    text = json.dumps(plan, sort_keys=True)
    for digest in digests:
        text = text.replace(digest, "<code-digest>")
    text = text.replace(json.dumps(str(REPO_ROOT))[1:-1], "<repo>")
    normalised = json.loads(text)
    normalised["resources"] = sorted(
        (resource for resource in normalised["resources"]
         if not (resource["type"] == BUCKET_OBJECT
                 and "/training/" in resource["inputs"].get("key", ""))),
        key=lambda resource: resource["urn"])
    return normalised


def snapshot_path(stack: str) -> Path:
    return SNAPSHOT_DIR / f"{stack}.json"

"""The mlops-components CrossGuard policy pack: `pulumi preview --policy-pack <this folder>`.

Pulumi's Python policy host runs this file (``python -m pulumi.policy <engine> <folder>``);
``PolicyPack`` serves the policies to the engine. The rules are in
``mlops_components.policy.rules``, shared with ``mlops preview``.
"""

import sys
from pathlib import Path

# The checkout (or site-packages) this pack lives in comes first, so the pack runs the rules
# that ship with it.
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from pulumi_policy import EnforcementLevel, PolicyPack  # noqa: E402

from mlops_components.policy.policies import (  # noqa: E402
    POLICY_PACK_DESCRIPTION,
    POLICY_PACK_NAME,
    build_policies,
)

PolicyPack(
    name=POLICY_PACK_NAME,
    description=POLICY_PACK_DESCRIPTION,
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=build_policies(),
)

"""The Register step's training-data fingerprint against botocore's CustomerMetadataMap shape
(patterns with Unicode classes, hence the `regex` module; the image's Python runs none of this)."""

from __future__ import annotations

import botocore.session
import regex

from mlops_components.sagemaker.spec import TRAINING_DATA_METADATA
from training.lineage import fingerprint_files, recorded_digest, short_digest


def test_the_recorded_digest_is_a_valid_customer_metadata_value(tmp_path):
    """What the Register step sends: botocore's CustomerMetadataMap value constraints."""
    shape = botocore.session.get_session().get_service_model("sagemaker").shape_for(
        "CustomerMetadataMap")
    pattern = regex.compile(shape.value.metadata["pattern"])
    key_pattern = regex.compile(shape.key.metadata["pattern"])
    path = tmp_path / "a.csv"
    path.write_text("x\n1\n")
    values = [recorded_digest(fingerprint_files([path])),
              recorded_digest(fingerprint_files([path], complete=False)), recorded_digest(None)]
    for value in values:
        assert 1 <= len(value) <= shape.value.metadata["max"]
        assert pattern.fullmatch(value), value
    assert key_pattern.fullmatch(TRAINING_DATA_METADATA)
    assert values[2] == "unknown"
    assert short_digest(values[0]) == values[0].removeprefix("sha256:")[:12]
    assert short_digest(values[1]).startswith("partial:")

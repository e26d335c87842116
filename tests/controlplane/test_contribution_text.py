"""A node's in-use set read from its stored contribution text without decoding the rest
(`Contribution.in_use_from_json`) is the set a full decode gives."""

from __future__ import annotations

import json

import pytest

from suanli.controlplane.contribution import Contribution, DefaultCatalog, compute, with_in_use

from .factories import inventory

# Model names a quote, a key spelled in_use, brackets: json.dumps escapes the quotes, so none of
# them can be taken for the in_use member.
ODD_MODELS = ["NVIDIA H100 80GB HBM3", 'X "in_use":[7]', "Y]}", '"in_use":[1,2,3]}']


@pytest.mark.parametrize("model", ODD_MODELS)
@pytest.mark.parametrize("in_use", [set(), {0}, {1, 3}, set(range(8))])
def test_in_use_read_from_the_text_is_the_decoded_one(model: str, in_use: set[int]) -> None:
    node = compute(inventory(gpus=8, gpu_model=model), ("CN-SD", "dc", "R01", "active"), set(), DefaultCatalog())
    text = with_in_use(node, in_use).to_json()
    assert Contribution.in_use_from_json(text) == Contribution.from_json(text).in_use == sorted(in_use)


def test_a_text_not_laid_out_by_to_json_is_decoded_whole() -> None:
    """Spaced or reordered JSON (not what `to_json` writes) still answers right."""
    node = compute(inventory(gpus=2), ("CN-SD", "dc", "R01", "active"), {1}, DefaultCatalog())
    data = json.loads(node.to_json())
    reordered = json.dumps({"in_use": data.pop("in_use"), **data}, indent=2)
    assert Contribution.in_use_from_json(reordered) == [1]

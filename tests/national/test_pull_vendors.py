"""`suanli national pull` totals per vendor: devices and datasheet FLOPS, in the JSON and the text output."""

from __future__ import annotations

import pytest

from suanli.catalog import spec_by_key
from suanli.national.cli import _print_text
from suanli.national.pull import PullResult
from suanli.schema.national import PRECISIONS, Capacity

H100 = spec_by_key("nvidia-h100-sxm5-80gb")
ASCEND = spec_by_key("huawei-ascend-910b3")
MLU = spec_by_key("cambricon-mlu370-x8-48gb")


def _result() -> PullResult:
    return PullResult(
        by_province={
            "CN-SD": Capacity(accelerators={H100.model: 8, ASCEND.model: 8}),
            "CN-JS": Capacity(accelerators={H100.model: 2, MLU.model: 4}),
        },
        nodes_by_province={"CN-SD": 2, "CN-JS": 1},
    )


def test_totals_per_vendor_in_the_json() -> None:
    by_vendor = _result().to_json()["totals"]["by_vendor"]
    assert {v: s["accelerators"] for v, s in by_vendor.items()} == {"cambricon": 4, "huawei": 8, "nvidia": 10}
    for precision in PRECISIONS:
        assert by_vendor["nvidia"]["flops"][precision] == pytest.approx(10 * (H100.peak_flops[precision] or 0.0))
    assert by_vendor["cambricon"]["flops"]["fp16"] == pytest.approx(4 * MLU.peak_flops["fp16"])
    assert by_vendor["cambricon"]["accelerators_without_flops"]["fp64"] == 4
    assert by_vendor["huawei"]["flops"]["fp16"] == 0.0
    assert by_vendor["huawei"]["accelerators_without_flops"] == dict.fromkeys(PRECISIONS, 8)


def test_text_output_lists_each_vendor(capsys: pytest.CaptureFixture[str]) -> None:
    _print_text(_result())
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.strip()}
    assert lines["nvidia"].split()[1] == "10"
    assert lines["huawei"].split()[1] == "8" and "no datasheet figure" in lines["huawei"]
    assert "no datasheet figure" not in lines["nvidia"]
    assert lines["cambricon"].split()[1] == "4" and "fp64 ×4" in lines["cambricon"]

"""The inventory: fake GPUs and CUDA_VISIBLE_DEVICES on the daemon (NVML: ``test_nvml.py``)."""

import pytest

from evd.resources.inventory import discover, parse_fake_gpus, visible

GIB = 1024**3


def test_fake_gpus_are_described_by_count_and_size() -> None:
    gpus = parse_fake_gpus("2x80GiB, 24GiB")
    assert [(g.index, g.memory_total) for g in gpus] == [
        (0, 80 * GIB),
        (1, 80 * GIB),
        (2, 24 * GIB),
    ]
    assert len({g.uuid for g in gpus}) == 3
    with pytest.raises(ValueError, match="write COUNTxSIZE"):
        parse_fake_gpus("lots")


def test_the_daemons_cuda_visible_devices_limits_what_evd_uses() -> None:
    gpus = parse_fake_gpus("4x24GiB")
    allowed, hidden, note = visible(gpus, "2,GPU-fake-0000", "PCI_BUS_ID")
    assert [g.index for g in allowed] == [0, 2] and hidden == [1, 3] and note is None
    assert visible(gpus, "", "PCI_BUS_ID") == ([], [0, 1, 2, 3], None)
    assert visible(gpus, None) == (gpus, [], None)


@pytest.mark.parametrize(
    ("entries", "kept", "says"),
    [
        # CUDA stops at the first entry that names no single device.
        ("1,7,2", [1], "ends at '7', which names no GPU of this machine"),
        ("GPU-", [], "ends at 'GPU-', which names every GPU"),
        ("3,GPU-fake-000", [3], "names no single GPU: give more of its UUID"),
        ("GPU-fake-0002,MIG-4f3a/1/0", [2], "a MIG instance, and evd hands out whole GPUs"),
        ("GPU-fake-0001,GPU-fake-0003", [1, 3], None),
    ],
)
def test_cuda_visible_devices_is_read_as_cuda_reads_it(
    entries: str, kept: list[int], says: str | None
) -> None:
    allowed, hidden, note = visible(parse_fake_gpus("4x24GiB"), entries, "PCI_BUS_ID")
    assert [g.index for g in allowed] == kept
    assert sorted(hidden + kept) == [0, 1, 2, 3]
    assert note is None if says is None else says in str(note)


def test_indexes_without_pci_bus_order_are_named_a_risk() -> None:
    _, _, note = visible(parse_fake_gpus("2x24GiB"), "1", None)
    assert "CUDA_DEVICE_ORDER=PCI_BUS_ID" in str(note)
    assert visible(parse_fake_gpus("2x24GiB"), "GPU-fake-0001", None)[2] is None


def test_discover_without_a_driver_has_no_gpus_and_says_why() -> None:
    inventory = discover({})
    assert inventory.cpus >= 1 and inventory.memory > 0
    if inventory.source == "none":  # the usual CI machine
        assert inventory.gpus == () and inventory.note
    faked = discover({"EVD_FAKE_GPUS": "2x16GiB", "CUDA_VISIBLE_DEVICES": "1"})
    assert faked.source == "fake" and [g.index for g in faked.gpus] == [1]
    assert faked.hidden == (0,)

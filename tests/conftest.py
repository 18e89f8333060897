"""Suite-wide pytest configuration: run the long tests first.

``make test`` runs on two pytest-xdist workers, which hand out tests in collection order. When a
several-minute simulation (a 20,000-vector Amaranth sweep, a large Verilator build) is collected
last, one worker runs it alone at the end while the other idles; started first, the short tests
fill in around it. The order is a scheduling hint only: every test still runs.
"""

#: (substring of the test id, rank): lower ranks run earlier; unmatched tests keep their order
_FIRST = (
    ("test_install.py", 0),
    ("test_catalogue_matches_golden[bf16_dot-verilator]", 0),
    ("test_catalogue_matches_golden[bf16_dot-icarus]", 0),
    ("test_catalogue_matches_golden[bf16_dot_k128_stages16-", 0),
    ("test_catalogue_matches_golden[mxsf_quantize-amaranth]", 0),
    ("test_catalogue_matches_golden[mx_dot_mxsf_mxsf-amaranth]", 0),
    ("test_every_stamp_matches_the_verilog", 0),
    ("test_array_mapping.py::test_rtl", 1),
    ("test_catalogue_matches_golden[bn_fwd", 1),
    ("test_catalogue_matches_golden[rangebn", 1),
    ("-verilator]", 2),
    ("-icarus]", 3),
)


def _rank(item):
    for needle, rank in _FIRST:
        if needle in item.nodeid:
            return rank
    return len(_FIRST)


def pytest_collection_modifyitems(config, items):
    items.sort(key=_rank)  # stable: the original order within a rank

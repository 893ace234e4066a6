"""Fingerprints: each equivalence class merges, each real architectural difference does not."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import torch
from archagent.evals.fingerprint import code_key, text_key
from archagent.evals.graph_key import example_input, graph_key

BASE = '''
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    """A small CNN."""

    def __init__(self, in_shape, n_out):
        super().__init__()
        self.conv1 = nn.Conv2d(in_shape[0], 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.fc = nn.Linear(32 * 4 * 4, n_out)

    def forward(self, x):
        h = F.relu(self.conv1(x))
        h = F.max_pool2d(F.relu(self.conv2(h)), 2)
        return self.fc(h.flatten(1))
'''


def build(source: str, seed: int = 0) -> torch.nn.Module:
    namespace: dict = {}
    exec(compile(textwrap.dedent(source), "<candidate>", "exec"), namespace)
    torch.manual_seed(seed)
    return namespace["Net"]((1, 8, 8), 10)


def gkey(source: str, seed: int = 0) -> str:
    return graph_key(build(source, seed), example_input((1, 8, 8), 10))


def edit(*pairs: str, source: str = BASE) -> str:
    for old, new in zip(pairs[::2], pairs[1::2], strict=True):
        assert old in source, old
        source = source.replace(old, new)
    return source


# ------------------------------------------------------------------ text_key / code_key

def test_text_key_ignores_whitespace_only() -> None:
    assert text_key(BASE) == text_key(BASE.replace("    ", "\t").replace(", ", ",") + "\n\n")
    assert text_key(BASE) != text_key(BASE.replace("16", "24"))


def test_keys_are_short_hex() -> None:
    for key in (text_key(BASE), code_key(BASE)):
        assert len(key) == 32 and int(key, 16) >= 0


def test_code_key_raises_on_syntax_error() -> None:
    with pytest.raises(SyntaxError):
        code_key("class Net(nn.Module:\n    pass")


CODE_EQUIVALENT = {
    "reformatted": edit("nn.Conv2d(in_shape[0], 16, 3, padding=1)",
                        "nn.Conv2d(\n            in_shape[0],\n            16,\n            3,\n"
                        "            padding = 1,\n        )"),
    "comments_and_docstrings": edit('"""A small CNN."""', "# a comment\n    '''Other doc.'''",
                                    "import torch\n", '"""Module doc."""\n# header\nimport torch\n',
                                    "def forward(self, x):", 'def forward(self, x):  # fwd\n        """Doc."""'),
    "renamed_locals": edit("h = F.relu", "out = F.relu", "h = F.max_pool2d(F.relu(self.conv2(h)), 2)",
                           "out = F.max_pool2d(F.relu(self.conv2(out)), 2)", "self.fc(h.flatten(1))",
                           "self.fc(out.flatten(1))", "forward(self, x)", "forward(me, inp)",
                           "self.conv1(x)", "me.conv1(inp)", "self.conv2(out)", "me.conv2(out)",
                           "self.fc(out", "me.fc(out", source=BASE),
    "renamed_attributes": edit("self.conv1", "self.c_a", "self.conv2", "self.c_b", "self.fc", "self.head"),
    "unused_import_and_dead_function": edit("import torch\n", "import torch\nimport math\nfrom typing import Any\n",
                                            "class Net", "def unused(x):\n    return x * 2\n\n\nclass Net")
    + "\n\nclass Unused(nn.Module):\n    pass\n\n\nif __name__ == '__main__':\n    Net((1, 8, 8), 10)\n",
    "annotations": edit("def __init__(self, in_shape, n_out):",
                        "def __init__(self, in_shape: tuple, n_out: int) -> None:",
                        "def forward(self, x):", "def forward(self, x: torch.Tensor) -> torch.Tensor:"),
    "import_aliases": edit("import torch.nn as nn\nimport torch.nn.functional as F",
                           "from torch import nn\nfrom torch.nn import functional as fn", "F.", "fn."),
    "literal_forms": edit("nn.Conv2d(in_shape[0], 16, 3, padding=1)",
                          "nn.Conv2d(in_channels=in_shape[0], out_channels=16, kernel_size=(3, 3), padding=(1, 1), "
                          "stride=1, bias=True)", "32 * 4 * 4", "32 * 0x4 * 4"),
    "super_form": edit("super().__init__()", "super(Net, self).__init__()"),
    "named_constant": edit("import torch\n", "import torch\nWIDTH = 16\n", "nn.Conv2d(in_shape[0], 16,",
                           "nn.Conv2d(in_shape[0], WIDTH,", "nn.Conv2d(16, 32", "nn.Conv2d(WIDTH, 32"),
}

HELPERS_A = '''
import torch.nn as nn


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)

    def _act(self, x):
        return x.relu()

    def forward(self, x):
        return self._act(self.conv(x)) + x


class Net(nn.Module):
    def __init__(self, in_shape, n_out):
        super().__init__()
        self.stem = nn.Conv2d(1, 8, 3, padding=1)
        self.block = Block(8)
        self.head = nn.Linear(8, n_out)

    def forward(self, x):
        return self.head(self.block(self.stem(x)).mean((2, 3)))
'''
HELPERS_B = edit("Block", "ResUnit", "_act", "_nonlin", "self.conv", "self.body", source=HELPERS_A)


@pytest.mark.parametrize("variant", sorted(CODE_EQUIVALENT))
def test_code_key_equivalences(variant: str) -> None:
    source = CODE_EQUIVALENT[variant]
    assert text_key(source) != text_key(BASE) or variant == "reformatted"
    assert code_key(source) == code_key(BASE), variant


def test_code_key_renamed_helpers() -> None:
    assert code_key(HELPERS_A) == code_key(HELPERS_B)
    dead_method = edit("    def forward(self, x):\n        return self._act",
                       "    def _unused(self):\n        return 1\n\n"
                       "    def forward(self, x):\n        return self._act",
                       source=HELPERS_A)
    assert code_key(dead_method) == code_key(HELPERS_A)


CODE_DIFFERENT = {
    "width": edit("nn.Conv2d(in_shape[0], 16, 3, padding=1)", "nn.Conv2d(in_shape[0], 24, 3, padding=1)",
                  "nn.Conv2d(16, 32", "nn.Conv2d(24, 32"),
    "kernel_size": edit("nn.Conv2d(16, 32, 3, padding=1)", "nn.Conv2d(16, 32, 5, padding=2)"),
    "layer_type": edit("F.max_pool2d(", "F.avg_pool2d("),
    "activation": edit("h = F.relu(self.conv1(x))", "h = F.gelu(self.conv1(x))"),
    "connection": edit("h = F.max_pool2d(F.relu(self.conv2(h)), 2)",
                       "h = F.max_pool2d(F.relu(self.conv2(h)) + h.repeat(1, 2, 1, 1), 2)"),
    "order_of_ops": edit("F.max_pool2d(F.relu(self.conv2(h)), 2)", "F.relu(F.max_pool2d(self.conv2(h), 2))"),
    "depth": edit("self.conv2 = nn.Conv2d(16, 32, 3, padding=1)",
                  "self.conv2 = nn.Conv2d(16, 32, 3, padding=1)\n        self.conv3 = nn.Conv2d(32, 32, 3, padding=1)",
                  "F.relu(self.conv2(h))", "F.relu(self.conv3(F.relu(self.conv2(h))))"),
    "stride": edit("nn.Conv2d(16, 32, 3, padding=1)", "nn.Conv2d(16, 32, 3, padding=1, stride=2)"),
    "bias": edit("nn.Conv2d(16, 32, 3, padding=1)", "nn.Conv2d(16, 32, 3, padding=1, bias=False)"),
}


@pytest.mark.parametrize("variant", sorted(CODE_DIFFERENT))
def test_code_key_real_differences(variant: str) -> None:
    assert code_key(CODE_DIFFERENT[variant]) != code_key(BASE), variant


def test_code_key_swapped_attribute_use_differs() -> None:
    swapped = edit("self.conv1(x)", "self.TMP(x)", "self.conv2(h)", "self.conv1(h)", "self.TMP(x)", "self.conv2(x)")
    assert code_key(swapped) != code_key(BASE)


def test_code_key_kwarg_parameter_rename_differs() -> None:
    a = "def f(x, scale=1):\n    return x * scale\n\nclass Net:\n    y = f(1, scale=2)\n"
    b = a.replace("scale=1", "factor=1").replace("x * scale", "x * factor")  # f(..., scale=2) now fails
    assert code_key(a) != code_key(b)


def test_code_key_torch_attribute_not_conflated_with_own() -> None:
    a = "class Net:\n    def forward(self):\n        self.weight = 1\n        return self.conv.weight\n"
    b = a.replace("self.weight = 1", "self.bias = 1").replace("conv.weight", "conv.bias")
    assert code_key(a) != code_key(b)


def test_code_key_stable_across_processes() -> None:
    script = "import sys; from evals.fingerprint import code_key; print(code_key(sys.stdin.read()))"
    out = subprocess.run([sys.executable, "-c", script], input=BASE, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == code_key(BASE)


# --------------------------------------------------------------------------- graph_key

SEQUENTIAL = '''
import torch.nn as nn


class Net(nn.Module):
    def __init__(self, in_shape, n_out):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_shape[0], 16, 3, padding=1), nn.ReLU(),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(32 * 4 * 4, n_out),
        )

    def forward(self, x):
        return self.body(x)
'''

LOOP = '''
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self, in_shape, n_out):
        super().__init__()
        self.layers = nn.ModuleList()
        c = in_shape[0]
        for width in (16, 32):
            self.layers.append(nn.Conv2d(c, width, kernel_size=(3, 3), padding=1))
            c = width
        self.out = nn.Linear(c * 16, n_out)

    def forward(self, x):
        for layer in self.layers:
            x = torch.relu(layer(x))
        x = nn.functional.max_pool2d(x, kernel_size=2, stride=2)
        return self.out(x.view(x.size(0), -1))
'''

RESIDUAL = '''
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self, in_shape, n_out):
        super().__init__()
        self.stem = nn.Conv2d(in_shape[0], 16, 3, padding=1)
        self.conv = nn.Conv2d(16, 16, 3, padding=1)
        self.fc = nn.Linear(16, n_out)

    def forward(self, x):
        h = F.relu(self.stem(x))
        h = F.relu(self.conv(h)) + h
        return self.fc(h.mean((2, 3)))
'''


@pytest.mark.parametrize("variant", ["sequential_inplace_relu", "loop"])
def test_graph_key_structural_equivalences(variant: str) -> None:
    source = {"sequential_inplace_relu": SEQUENTIAL, "loop": LOOP}[variant]
    assert code_key(source) != code_key(BASE)
    assert gkey(source) == gkey(BASE)


def test_graph_key_equal_for_code_equivalent_variants() -> None:
    for name in ("renamed_attributes", "literal_forms", "import_aliases"):
        assert gkey(CODE_EQUIVALENT[name]) == gkey(BASE), name


def test_graph_key_ignores_seed_and_is_deterministic_across_processes() -> None:
    assert gkey(BASE, seed=1) == gkey(BASE, seed=2)
    script = ("import sys, torch; sys.path.insert(0, 'tests'); from test_fingerprint import gkey, BASE; "
              "print(gkey(BASE))")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == gkey(BASE)


GRAPH_DIFFERENT = {
    **{k: CODE_DIFFERENT[k] for k in ("width", "kernel_size", "layer_type", "activation", "order_of_ops",
                                      "depth", "bias")},
    "stride_instead_of_pool": edit("nn.Conv2d(16, 32, 3, padding=1)", "nn.Conv2d(16, 32, 3, padding=1, stride=2)",
                                   "F.max_pool2d(F.relu(self.conv2(h)), 2)", "F.relu(self.conv2(h))"),
    "dropout_rate": edit("return self.fc(h.flatten(1))", "return self.fc(F.dropout(h.flatten(1), 0.2, self.training))"),
    "zero_init_head": edit("self.fc = nn.Linear(32 * 4 * 4, n_out)",
                           "self.fc = nn.Linear(32 * 4 * 4, n_out)\n        nn.init.zeros_(self.fc.weight)"),
    "unused_extra_layer": edit("self.fc = nn.Linear(32 * 4 * 4, n_out)",
                               "self.fc = nn.Linear(32 * 4 * 4, n_out)\n        self.spare = nn.Linear(4, 4)"),
}


@pytest.mark.parametrize("variant", sorted(GRAPH_DIFFERENT))
def test_graph_key_real_differences(variant: str) -> None:
    assert gkey(GRAPH_DIFFERENT[variant]) != gkey(BASE), variant


def test_graph_key_residual_connection_and_inplace_aliasing() -> None:
    no_skip = edit("h = F.relu(self.conv(h)) + h", "h = F.relu(self.conv(h))", source=RESIDUAL)
    skip_before_relu = edit("h = F.relu(self.conv(h)) + h", "h = F.relu(self.conv(h) + h)", source=RESIDUAL)
    inplace = edit("h = F.relu(self.conv(h)) + h", "h = F.relu(self.conv(h), inplace=True) + h", source=RESIDUAL)
    keys = {gkey(s) for s in (RESIDUAL, no_skip, skip_before_relu)}
    assert len(keys) == 3
    assert gkey(inplace) == gkey(RESIDUAL)  # in-place on a fresh tensor: same computation


def test_graph_key_restores_model_state() -> None:
    model = build(SEQUENTIAL.replace("nn.ReLU(),", "nn.BatchNorm2d(16), nn.ReLU(),"))
    model.eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    graph_key(model, example_input((1, 8, 8), 10))
    assert not model.training and all(not m.training for m in model.modules())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert torch.equal(rng, torch.get_rng_state())


def test_graph_key_data_dependent_control_flow_and_sequences() -> None:
    source = '''
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self, in_shape, n_out):
        super().__init__()
        self.emb = nn.Embedding(n_out, 16)
        self.head = nn.Linear(16, n_out)

    def forward(self, x):
        h = self.emb(x)
        if h.sum() > 1e9:  # data-dependent branch: symbolic tracing would fail here
            h = h * 2
        return self.head(torch.cumsum(h, dim=1))
'''
    namespace: dict = {}
    exec(source, namespace)
    model = namespace["Net"]((12,), 20)
    tokens = example_input((12,), 20, tokens=True)
    assert tokens.dtype == torch.int64 and tokens.shape == (2, 12)
    key = graph_key(model, tokens)
    assert key == graph_key(model, tokens) and len(key) == 32

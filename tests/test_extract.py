from archagent.agent.extract import extract_code

NET = "import torch\nclass Net(torch.nn.Module):\n    pass\n"


def test_fenced_block_with_net_is_taken():
    reply = f"Here:\n```python\nx = 1\n```\nand the model:\n```python\n{NET}```\nDone."
    assert extract_code(reply) == NET


def test_unclosed_fence_yields_the_rest():
    assert extract_code("```python\nimport torch\nclass Net(") == "import torch\nclass Net(\n"


def test_bare_code_with_net_is_taken_whole():
    assert extract_code(NET) == NET


def test_no_code_is_none():
    assert extract_code("I would use a transformer.") is None


def test_missing_standard_imports_are_added_and_present_ones_kept():
    bare = "class Net(nn.Module):\n    def forward(self, x):\n        return F.relu(torch.flatten(x, 1)) * math.pi\n"
    code = extract_code(f"```python\n{bare}```")
    assert code.startswith("import math\nimport torch\nfrom torch import nn\nimport torch.nn.functional as F\n")
    assert code.endswith(bare)
    compile(code, "c.py", "exec")
    full = "import torch\nimport torch.nn as nn\n\n\nclass Net(nn.Module):\n    pass\n"
    assert extract_code(f"```python\n{full}```") == full  # `as nn` binds it: nothing added

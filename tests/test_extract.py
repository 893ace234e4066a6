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

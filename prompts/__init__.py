"""Jinja2 prompt templates (data files). `TEMPLATE_DIR` is this folder."""
from pathlib import Path

TEMPLATE_DIR = Path(__file__).parent

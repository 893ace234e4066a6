"""Shared test helpers (tests never import other test modules): campaign configs and a fake executor."""

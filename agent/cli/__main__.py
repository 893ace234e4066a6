"""`python -m agent.cli ...` runs the `archagent` command."""

from agent.cli import main

main()

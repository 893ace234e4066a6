"""`python -m agent.cli ...` runs the `archagent` command."""

from archagent.agent.cli import main

main()

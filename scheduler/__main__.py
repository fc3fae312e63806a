"""`python -m scheduler` is the `spotsched` command."""

from scheduler.cli.main import main

main()

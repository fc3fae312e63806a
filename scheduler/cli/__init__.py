"""The `spotsched` command line: thin wrappers that parse arguments and print results."""

"""The `tierbot` command line: each command turns its arguments into a pipeline request and prints
its Outcome."""

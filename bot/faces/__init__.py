"""The faces: each turns its input into a pipeline request and its Outcome into output."""

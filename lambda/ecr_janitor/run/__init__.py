"""The run: the pure core driven over the adapters, region by region and repository by repository, in one
invocation (janitor) or fanned out over many (fanout)."""

"""Memory measurements: leak profiles under tracemalloc, memory per router topology."""

"""HTTP handlers, one module per resource; they call stores and never write SQL."""

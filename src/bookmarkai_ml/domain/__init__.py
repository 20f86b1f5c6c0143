"""Pure logic with no I/O imports: pricing, budget math, chunk planning, filters."""

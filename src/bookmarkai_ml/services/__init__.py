"""Services: the use cases, depending only on ports, contracts and domain logic."""

"""Register deliveries: writing them (for the generator and tests) and ingesting them."""

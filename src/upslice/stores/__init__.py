"""Storage backends. Kept empty so that optional backends import their extras only when used."""

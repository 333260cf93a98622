"""Who is asking: bearer tokens (JWT), signed download URLs, and the pre-access hook."""

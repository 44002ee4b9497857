"""The test OpenID Connect provider and its process helper."""

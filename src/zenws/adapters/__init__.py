"""Exchange adapters built on zenws.Client."""

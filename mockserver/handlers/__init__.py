"""HTTP handlers, one module per endpoint family; routes live in ``mockserver.urls``."""

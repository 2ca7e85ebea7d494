"""HTTP handlers, one module per endpoint family; routes live in ``lbmock.mockserver.urls``."""

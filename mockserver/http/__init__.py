"""Serving the app: ``server.py`` (``lbmock serve``'s HTTP/1.1 server) and ``inprocess.py``
(``mock_labelbox`` / ``MockLabelbox`` and ``ThreadedMockServer``)."""

"""Our own SMPP 3.4 client: a pure codec layer (``pdu``, ``text``, ``udh``, ``receipt``)."""

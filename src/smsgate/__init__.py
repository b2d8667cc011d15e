"""smsgate: an SMS platform serving the Stream Telecom REST SMS API."""

__version__ = "0.1.0"

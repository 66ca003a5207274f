"""A campaign's outbound phone numbers (caller IDs): the list an operator keeps through the API."""

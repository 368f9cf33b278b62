"""FHIR adapter: a Subscription notification receiver (rest-hook) and its parsing."""

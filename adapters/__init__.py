"""Adapters: transports and parsing, no clinical logic. Each registers inputs via a plugin hook."""

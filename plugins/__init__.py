"""First-party plugins, loaded through the same entry points as a third party's."""

"""The shop owner's command line: the catalogue, its index and the policies document."""

"""The wire: what a protocol v1 frame is, how it is encoded, what bounds it and the errors it
carries."""

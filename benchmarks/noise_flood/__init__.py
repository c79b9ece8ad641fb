"""Another device's spoken turn while one device floods REST audio with noise (issue 12)."""

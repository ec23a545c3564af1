"""Routes of the JSON API: clips, their tracks, health."""

"""Routes browsers use: pages, static files, oEmbed, and the stream, poster and track reads."""

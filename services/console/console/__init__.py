"""sikader console: the city's web pages over the four services' APIs, as the signed-in user."""

"""Device and ticket actors, and the Ray host actors that run them."""

"""One router per resource; server.create_app includes them."""

"""Clients of the photo APIs (Unsplash, Pexels) the acquisition service pulls photos from."""

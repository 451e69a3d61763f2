"""Repository root on sys.path, so tests import the app's packages as the host does."""

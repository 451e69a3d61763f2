"""`python -m renderctl …`, the same as the `renderctl` console script."""

from __future__ import annotations

from renderctl.cli import main

if __name__ == "__main__":
    main()

"""``python -m autometa``: the command line."""

from autometa._cli import main

if __name__ == "__main__":
    main()

"""``python -m deployforge.action``: the container's ENTRYPOINT."""

from deployforge.action import entrypoint

if __name__ == "__main__":
    entrypoint()

"""The insight kinds, one module each: its model, its compiler and ``KIND``. Every module here
is a kind (`workspace.insights._registry` finds them); ``KIND.order`` places it in lists."""

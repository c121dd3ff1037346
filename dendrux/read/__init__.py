"""The read side: what `RunStore`, the HTTP router and the CLI share.

Nothing here writes; importing it loads no driver.
"""

"""Modal screens: help, quit confirmation, context, model and limits pickers."""

"""Modal screens: help, quit confirmation, context, model and limits pickers."""

# Their styles, read by Textual when the first of them opens (not before the first frame).
DIALOGS = "dialogs.tcss"

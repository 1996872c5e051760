"""The app's widgets: the agent tree, the transcript, the bars and the end-of-run panel."""

"""The Textual dashboard. Renders what jobs.runview / jobs.registry give; never imports torch."""

"""One module per console page (or pair of pages sharing a form)."""

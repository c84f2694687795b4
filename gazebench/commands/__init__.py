"""One module per ``gazebench`` subcommand."""

"""The МЦУ pipeline's application package: settings, the Faust app and agents, the CLI."""

"""SGraph Send client library: keys, records, manifest, transports, engine, CLI."""

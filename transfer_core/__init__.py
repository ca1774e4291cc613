"""SGraph Send client library: keys, records, manifest, transports, engine, CLI.

Deliberately free of imports: the Lambda bundle carries this package with only its
Lambda-safe modules (stdlib and boto3). The public client API is `transfer_core.api`.
"""

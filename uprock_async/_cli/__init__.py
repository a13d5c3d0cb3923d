"""The pieces of the ``uprock-async`` command line; the entry point is :mod:`uprock_async.cli`."""

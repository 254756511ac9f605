"""The .mtus files here need the shipped corpus beside them: tests/test_authors.py loads and checks them."""

collect_ignore_glob = ["*.mtus"]
